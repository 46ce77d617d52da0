"""Post-training quantization against quantization-aware training on the same student, from one run's
bench (`mobile-distill run benchmarks/recipes/qat.yaml`): for every (target, int8 precision), the
post-training artifact, its auto-fallback replacement if it had one, and the QAT student's artifact,
each as its own runtime ran it on the test split and as gate 2 judged it (against the student it was
exported from: the gate-1 student, or the QAT student for the QAT artifacts).
Appends the table to RESULTS.md with the QAT log's fake-quantized validation accuracies.

    python benchmarks/qat_vs_ptq.py runs/qat
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from common import publish  # benchmarks/common.py

from mobile_distill.bench.device import cpu_features
from mobile_distill.bench.schema import BenchReport
from mobile_distill.layout import QAT_LOG

COLUMNS = ["target", "precision", "method", "artifact", "test accuracy", "agreement with the student",
           "max |logit diff|", "gate 2", "p50 ms (1 thread)", "size MB"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished run of a recipe with a qat section (e.g. runs/qat)")
    args = parser.parse_args()
    run = Path(args.run)
    bench = BenchReport.model_validate_json((run / "bench" / "bench.json").read_text())
    qat = json.loads((run / "student-qat" / QAT_LOG).read_text())
    reference = bench.entry("reference")
    qat_student = next(entry for entry in bench.models if entry.role == "variant")
    rows = [_row(entry) for entry in sorted(bench.artifacts(), key=_order) if entry.precision.startswith("int8")]
    accuracy = qat["validation_accuracy"]
    cpu = cpu_features()
    publish("post-training quantization vs quantization-aware training, same student", [
        f"Run: {run} (`mobile-distill run benchmarks/recipes/qat.yaml`). Test accuracy in PyTorch fp32: student "
        f"{reference.scores.accuracy:.4f}, QAT student {qat_student.scores.accuracy:.4f}. QAT: {qat['steps']} steps in {qat['seconds'] / 60:.1f} min; validation accuracy of the float "
        f"student {accuracy['float']:.4f}, with int8 fake quantization before QAT {accuracy['fake_quantized_before']:.4f}, "
        f"after {accuracy['fake_quantized_after']:.4f}. Gate 2 judges each artifact against the student it came from "
        f"(the QAT student for QAT artifacts) on the 854 test rows; agreement below is with that student. Latency from the run's own bench (batch 1, 1 thread). CPU: {cpu['model']}, "
        f"{os.cpu_count()} cores, {cpu['summary']}."], COLUMNS, rows, [])
    return 0


def _method(entry) -> str:
    method = "QAT" if "-qat-" in entry.name else "PTQ"
    return f"{method} + fallback" if entry.replaces else method


def _order(entry):
    return entry.target, entry.precision, ["PTQ", "PTQ + fallback", "QAT", "QAT + fallback"].index(_method(entry))


def _row(entry) -> str:
    accuracy = entry.scores
    latency = next((lat.p50_ms for lat in entry.performance.latency if lat.threads == 1), None) if entry.performance else None
    return (f"| {entry.target} | {entry.precision} | {_method(entry)} | {entry.name} | "
            f"{accuracy.accuracy:.4f} | {accuracy.agreement_reference:.4f} | {accuracy.max_abs_logit_diff:.3f} | "
            f"{entry.verdict.status} | {latency:.2f} | {entry.size_bytes / 1e6:.1f} |" if accuracy else
            f"| {entry.target} | {entry.precision} | {_method(entry)} | {entry.name} | | | | {entry.status} | | |")


if __name__ == "__main__":
    sys.exit(main())
