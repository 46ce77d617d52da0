"""The whole default pipeline, then one bench of every artifact plus the common hand-made route.

Runs the default recipe (fine-tune, distil, gate 1, export every target and precision) into a
fresh run folder, builds the hand-made route on the same student (ONNX Runtime's transformer
optimizer + dynamic int8, benchmarks/handmade_onnx_route.py), and benches them all in ONE bench
run, so every ratio is measured side by side on the same machine state. Writes the summary table
to benchmarks/RESULTS.md: teacher, student and every artifact with accuracy, agreement, p50
latency at 1 and 2 threads, size, and the ratios to the teacher (size, speed, retention).

    .venv/bin/python benchmarks/pipeline_default.py [--run runs/bench-pipeline] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from common import publish  # benchmarks/common.py (the script's own folder is on sys.path)
from handmade_onnx_route import make_handmade_artifact

from mobile_distill.bench import bench_prepared
from mobile_distill.bench.report import print_verdicts
from mobile_distill.bench.schema import BenchReport
from mobile_distill.config import load_recipe
from mobile_distill.data import PreparedData
from mobile_distill.errors import Gate2Failure
from mobile_distill.pipeline import run_recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/bench-pipeline", help="run folder (emptied first unless --keep)")
    parser.add_argument("--keep", action="store_true", help="reuse what the run folder already holds")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Path(args.run)
    if run.exists() and not args.keep:
        shutil.rmtree(run)
    recipe = load_recipe("default")
    recipe = recipe.model_copy(update={"output_dir": str(run), "cache_dir": str(run / "cache"),
                                       "stages": tuple(s for s in recipe.stages if s != "bench")})
    start = time.perf_counter()
    result = run_recipe(recipe)
    pipeline_seconds = time.perf_counter() - start
    length = recipe.data.max_length
    handmade, info = make_handmade_artifact(run / "artifacts" / f"onnx-fp32-s{length}",
                                            run / "handmade" / f"onnx-handmade-ort-int8-s{length}")
    start = time.perf_counter()
    try:
        report, _ = bench_prepared(result.artifacts + [handmade], PreparedData.load(run / "data"), run / "student",
                                       run / "teacher", recipe.bench, recipe.gate2, length, run / "bench")
    except Gate2Failure as failure:  # the table is the point; a failing artifact is one of its rows
        report = failure.report
    bench_seconds = time.perf_counter() - start
    print_verdicts(report)
    publish("teacher, student and every artifact, one bench", _about(result, report, pipeline_seconds, bench_seconds, info),
            COLUMNS, [_row(entry, report) for entry in report.models])
    return 0


COLUMNS = ["model", "precision", "accuracy", "agreement", "p50 ms 1t", "p50 ms 2t", "MB", "size vs teacher",
           "speed-up 1t", "retention vs teacher", "gate 2"]


def _about(result, report: BenchReport, pipeline_seconds: float, bench_seconds: float, info: dict) -> list[str]:
    summary = json.loads(result.layout.summary.read_text())
    return [f"Default recipe from scratch: stages {summary['seconds']} s ({pipeline_seconds:.0f} s), then one bench of "
            f"{len(report.models)} models ({bench_seconds:.0f} s). {report.data['rows']} test rows; latency batch 1, "
            f"sequence {report.settings['reference_sequence_length']}, median of {report.settings['runs']} runs, each "
            f"model in its own process. Gate 2 verdict: {report.verdict}. Core ML needs macOS (not run here). "
            f"CPU: {_cpu(report)}.",
            f"Hand-made route (`onnx-handmade-ort-int8`): ORT transformer optimizer + quantize_dynamic defaults; "
            f"{json.dumps(info, default=str)[:400]}"]


def _cpu(report: BenchReport) -> str:
    cpu = report.device.get("cpu") or {}
    return (f"{cpu.get('model')}, {report.device.get('cpu_count')} cores, {cpu.get('summary')}; int8 dot-product: "
            f"{'yes' if cpu.get('int8_dot_product') else 'no'}")


def _p50(entry, threads: int):
    if entry.performance is None:
        return None
    return next((l.p50_ms for l in entry.performance.latency if l.threads == threads), None)


def _row(entry, report: BenchReport) -> str:
    teacher = report.entry("teacher")
    p50_1, p50_2, teacher_p50 = _p50(entry, 1), _p50(entry, 2), _p50(teacher, 1)
    accuracy = entry.scores
    cells = [entry.name, entry.precision, f"{accuracy.accuracy:.4f}" if accuracy else "not run",
             f"{accuracy.agreement_reference:.4f}" if accuracy and accuracy.agreement_reference is not None else "",
             f"{p50_1:.2f}" if p50_1 else "", f"{p50_2:.2f}" if p50_2 else "", f"{entry.size_bytes / 1e6:.1f}",
             f"{entry.size_bytes / teacher.size_bytes:.2f}x", f"{teacher_p50 / p50_1:.2f}x" if p50_1 else "",
             f"{accuracy.accuracy / teacher.scores.accuracy:.4f}" if accuracy else "",
             entry.verdict.status if entry.verdict else ""]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
