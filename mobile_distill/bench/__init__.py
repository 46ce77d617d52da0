"""Bench stage: every artifact on the same labelled test split through its own runtime, beside the
PyTorch reference it came from and the teacher, then gate 2 and (on FAIL) diagnosis.

Order per artifact: the interface contract check (bench/contract.py) first; only an artifact
whose file honours its manifest gets accuracy numbers. Speed and memory are measured in a fresh
process per model (bench/measure.py). Results follow the versioned schema in bench/schema.py.
"""

from .run import BenchReport, bench_prepared, expand_artifacts, publish, run_bench
from .sources import labels_as_model_indices

__all__ = ["BenchReport", "bench_prepared", "expand_artifacts", "labels_as_model_indices", "publish", "run_bench"]
