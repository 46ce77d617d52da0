"""Speed and memory of one model, measured in a process of its own.

Why a subprocess per model: peak resident memory is a per-process figure, and runtimes keep
arenas, thread pools and caches alive after their sessions are gone, so numbers measured one
after the other in one process would mix. The parent starts
``python -m mobile_distill.bench.measure SPEC OUT`` and reads OUT (JSON).

Latency is batch 1, one real text padded to the model's full sequence length (so dynamic-shape
formats are timed at the same length as static ones), single stream: each run starts when the
previous one ended, the MLPerf Mobile way; p90 is the MLPerf figure.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .schema import Latency, Performance


def measure_performance(folder: Path, text: str, threads: tuple[int, ...], runs: int, warmup: int,
                        seq_len: int, timeout: float = 1800) -> Performance:
    """Load ``folder`` (an artifact or a HF model folder) in a fresh process and time it."""
    spec = {"folder": str(folder), "text": text, "threads": list(threads), "runs": runs, "warmup": warmup,
            "seq_len": seq_len}
    with tempfile.TemporaryDirectory(prefix="mobile-distill-measure-") as scratch:
        spec_path, out_path = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec_path.write_text(json.dumps(spec))
        completed = subprocess.run([sys.executable, "-m", "mobile_distill.bench.measure", str(spec_path), str(out_path)],
                                   capture_output=True, text=True, timeout=timeout, env={**os.environ})
        if completed.returncode != 0 or not out_path.is_file():
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(f"{folder}: timing process failed: {last}")
        return Performance.model_validate_json(out_path.read_text())


def _rss_mb(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process.

    Not getrusage's ru_maxrss on Linux: it survives fork+exec, so a child reports its parent's peak
    whenever that is higher (every model would show the parent's figure).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1e3  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # macOS: bytes, and exec starts afresh
    return peak / 1e6 if platform.system() == "Darwin" else peak / 1e3


def _latency(runner, batch: dict, threads: int, runs: int, warmup: int) -> Latency:
    for _ in range(warmup):
        runner.predict(batch)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.predict(batch)
        samples.append((time.perf_counter() - start) * 1e3)
    values = np.asarray(samples)
    return Latency(threads=threads, runs=runs, warmup=warmup, p50_ms=float(np.percentile(values, 50)),
                   p90_ms=float(np.percentile(values, 90)), p99_ms=float(np.percentile(values, 99)),
                   mean_ms=float(values.mean()), std_ms=float(values.std()), samples_ms=[round(v, 4) for v in samples])


def _measure(spec: dict) -> Performance:
    from ..runners import (
        load_runner,  # torch and transformers (tokenizers) come with it: part of the baseline
    )

    baseline = _rss_mb("VmRSS")
    latencies, load_seconds, cold_seconds = [], None, None
    for threads in spec["threads"]:
        start = time.perf_counter()
        runner = load_runner(spec["folder"], threads=threads, seq_len=spec["seq_len"])
        loaded = time.perf_counter()
        batch = runner.encode([spec["text"]], pad_to_length=True)
        runner.predict(batch)
        if load_seconds is None:  # a fresh process: runtime start-up, kernel selection, first allocations
            load_seconds, cold_seconds = loaded - start, time.perf_counter() - loaded
        latencies.append(_latency(runner, batch, threads, spec["runs"], spec["warmup"]))
        del runner
    return Performance(load_seconds=round(load_seconds, 4), cold_seconds=round(cold_seconds, 4),
                       peak_rss_mb=round(_rss_mb("VmHWM"), 1), baseline_rss_mb=round(baseline, 1), latency=latencies)


if __name__ == "__main__":
    spec_file, out_file = sys.argv[1], sys.argv[2]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    performance = _measure(json.loads(Path(spec_file).read_text()))
    Path(out_file).write_text(performance.model_dump_json())
