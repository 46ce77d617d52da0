"""Auto-fallback on a real failing int8 artifact, and the cost of each target's per-layer ranking.

The failing case is real, not planted: ONNX int8-dynamic with QInt8 per-tensor weights (the
hand-made route's scheme) loses agreement on the real distilled student below gate 2's 98%
(onnx_int8_schemes.py measured 0.978). bench --auto-fallback re-quantizes it with the most
error-adding nodes in float until gate 2 passes; the table shows the original and the fallback
from one bench run (agreement, accuracy, size, p50 latency, nodes kept float). Then the per-layer
ranking of each target's int8-dynamic export of the same student is timed, with its top layers.

    .venv/bin/python benchmarks/auto_fallback_real.py [--run runs/bench-pipeline] [--seq-len 64]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from mobile_distill.bench import run_bench
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.diagnose import layer_sensitivity
from mobile_distill.export import ExportOptions, export
from common import load_student_run, publish, run_argument_parser  # benchmarks/common.py

RANKING_TEXTS = 32  # what --auto-fallback ranks on (bench.fallback.SENSITIVITY_TEXTS)


def main() -> int:
    parser = run_argument_parser(__doc__.splitlines()[0])
    parser.set_defaults(run="runs/bench-pipeline", seq_len=64)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run = Path(args.run)
    train, test, labels, _ = load_student_run(run, args.seq_len)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        rows, seconds = _fallback_rows(run, scratch, train, test, labels, args.seq_len)
        ranking_rows = _ranking_rows(run, scratch, train, test, args.seq_len)
    publish("auto-fallback on a real failing int8 artifact",
            [f"Student `{run / 'student'}`, {len(test)} test rows, sequence length {args.seq_len}. Original: ONNX "
             f"int8-dynamic, QInt8 per-tensor weights. One `run_bench` with auto_fallback, gate 2 defaults, "
             f"latency batch 1, 1 thread, 50 runs; bench with fallback took {seconds:.0f} s."],
            ["model", "accuracy", "agreement", "MB", "p50 ms (1t)", "verdict", "kept float"], rows,
            after=["Per-layer ranking of each target's int8-dynamic export of the same student "
                   f"({RANKING_TEXTS} test texts, the ranking --auto-fallback uses):", "",
                   "| target | ranking s | quantized layers | top 3 by added error |", "| --- | --- | --- | --- |",
                   *ranking_rows])
    return 0


def _fallback_rows(run: Path, scratch: Path, train, test, labels, seq_len: int):
    options = ExportOptions(seq_len=seq_len, onnx_weight_type="qint8", per_channel=False)
    artifact = export(run / "student", "onnx", "int8-dynamic", scratch / "onnx-qint8-per-tensor", options, train, test)
    settings = BenchConfig(threads=(1,), runs=50, diagnose=False, auto_fallback=True)
    started = time.perf_counter()
    report = run_bench([artifact], test, labels, run / "student", None, settings, Gate2Config(), seq_len=seq_len,
                       calibration_texts=train)
    seconds = time.perf_counter() - started
    rows = []
    for entry in report.models:
        latency = entry.performance.latency[0].p50_ms if entry.performance else None
        rows.append(f"| {entry.name} | {entry.scores.accuracy:.4f} | {_fmt(entry.scores.agreement_reference)} | "
                    f"{entry.size_bytes / 1e6:.1f} | {_fmt(latency, '.2f')} | {entry.verdict.status} | "
                    f"{_kept(entry, report)} |")
        print(rows[-1], flush=True)
    return rows, seconds


def _kept(entry, report) -> str:
    """The original: its attempts (nodes kept float -> agreement); the fallback: the modules it keeps float."""
    if not entry.replaces:
        attempts = (entry.fallback or {}).get("attempts", [])
        return "; ".join(f"{a['kept_float']} float -> {_fmt(a.get('agreement'))}" for a in attempts)
    original = next(model for model in report.models if model.name == entry.replaces)
    modules = {item["node"]: item["module"] or item["node"] for item in original.fallback["ranking"]}
    return ", ".join(modules.get(name, name) for name in original.fallback["kept_float"])


def _ranking_rows(run: Path, scratch: Path, train, test, seq_len: int) -> list[str]:
    rows = []
    for target in ("onnx", "tflite", "executorch"):
        artifact = export(run / "student", target, "int8-dynamic", scratch / f"{target}-int8", ExportOptions(seq_len=seq_len),
                          train, test)
        started = time.perf_counter()
        ranking = layer_sensitivity(artifact, run / "student", test[:RANKING_TEXTS])
        seconds = time.perf_counter() - started
        top = ", ".join(f"{item.module or item.node} (+{item.added_error:.3f})" for item in ranking[:3])
        rows.append(f"| {target} | {seconds:.1f} | {len(ranking)} | {top} |")
        print(rows[-1], flush=True)
    return rows


def _fmt(value, spec: str = ".4f") -> str:
    return "" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
