"""Run the default pipeline (or another recipe) from scratch and record what it reached.

Prints a table and appends it to benchmarks/RESULTS.md with the exact command:
teacher and student test accuracy, retention, agreement, parameter counts, PyTorch CPU latency
of each (batch 1, sequence 128, 1 thread, median of >= 50 runs, the two models interleaved in
one loop so machine noise hits both alike), and the wall time of each stage.

    .venv/bin/python benchmarks/distill_default.py [--recipe default] [--runs 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

from mobile_distill.config import load_recipe
from mobile_distill.errors import Gate1Failure
from mobile_distill.models import count_parameters, load_classifier, load_tokenizer, forward_inputs
from mobile_distill.pipeline import run_recipe
from common import publish  # benchmarks/common.py (the script's own folder is on sys.path)

SAMPLE = "An engrossing, beautifully acted drama whose quiet final act lingers long after the credits roll."


def latency_ms(models: dict[str, torch.nn.Module], tokenizer, runs: int, seq_len: int = 128) -> dict[str, list[float]]:
    """Batch-1 latencies at ``seq_len`` tokens on one thread, the models interleaved run by run."""
    torch.set_num_threads(1)
    batch = dict(tokenizer([SAMPLE], padding="max_length", max_length=seq_len, truncation=True, return_tensors="pt"))
    times = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            model.eval()
            for _ in range(5):  # warm-up
                model(**forward_inputs(model, batch))
        for _ in range(runs):
            for name, model in models.items():
                start = time.perf_counter()
                model(**forward_inputs(model, batch))
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default", help="recipe file or built-in name (default: default)")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per model (>= 50)")
    parser.add_argument("--output-dir", default="runs/bench-distill", help="run folder; wiped first so nothing is cached")
    args = parser.parse_args()
    if args.runs < 50:
        parser.error("--runs must be >= 50")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    out = Path(args.output_dir)
    shutil.rmtree(out, ignore_errors=True)
    recipe = load_recipe(args.recipe).model_copy(update={"output_dir": str(out), "cache_dir": str(out / "cache")})
    start = time.perf_counter()
    try:
        result = run_recipe(recipe)
        report = result.gate_report
    except Gate1Failure as failure:
        report, result = failure.report, getattr(failure, "result", None)
    total = time.perf_counter() - start
    seconds = result.seconds if result else {}

    teacher_dir, student_dir = Path(report.teacher.path), Path(report.student.path)
    models = {"teacher": load_classifier(teacher_dir), "student": load_classifier(student_dir)}
    times = latency_ms(models, load_tokenizer(student_dir), args.runs)
    medians = {name: statistics.median(values) for name, values in times.items()}

    rows = []
    for name in ("teacher", "student"):
        part = getattr(report, name)
        rows.append(f"| {name} | {part.model_type} | {part.layers} | {count_parameters(models[name]):,} | "
                    f"{part.test.accuracy:.4f} | {part.test.macro_f1:.4f} | {medians[name]:.2f} |")
    publish(f"recipe `{recipe.name}`",
            [f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
             f"torch {torch.__version__}. Latency: batch 1, sequence 128, 1 thread, median of {args.runs} runs, "
             "teacher and student interleaved."],
            ["model", "type", "layers", "parameters", "test accuracy", "macro-F1", "latency p50 (ms)"], rows,
            [f"Gate 1: **{report.verdict}**, retention {report.retention:.4f} "
             f"(floor {report.thresholds['min_retention']}), agreement {report.agreement:.4f}, "
             f"test rows {report.student.test.examples}. Student/teacher: "
             f"{count_parameters(models['student']) / count_parameters(models['teacher']):.2f}x parameters, "
             f"{medians['teacher'] / medians['student']:.2f}x faster.  ",
             "Stage wall time (s): " + ", ".join(f"{k} {v}" for k, v in seconds.items()) + f"; total {total:.0f}."])
    return 0 if report.verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
