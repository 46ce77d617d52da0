"""One round of timing: one model in a fresh process that holds what an app would hold, timed and weighed.

    python PATH/TO/timing_process.py SPEC.json OUT.json

Run by path, never as ``-m mobile_distill.bench.timing_process``: that would import the ``mobile_distill.bench``
package first (its stages import torch and transformers, ~600 MB resident before any model), the very
baseline this process is here to avoid. An artifact whose target names an app-like loader (`Target.timing`)
is opened through its runtime alone, plus numpy; it never tokenizes (the parent sends the token ids, as an
app's own code tokenizes). A folder with none (the PyTorch reference and teacher; Core ML) is opened through
its whole runner, torch and transformers included, and tokenizes here.

Memory: the runtime is imported, the peak is reset to the resident memory of that moment (the baseline), and
the peak (VmHWM) is read from the kernel once the file was opened, run once and timed at the first thread
count. The model's memory is that peak less the baseline: what opening and running the file added, as an app
opens it, once. Not after the other thread counts: a second session in the same process lands on a heap the
first one left fragmented (the demo's ONNX int8 file: 38.6 MB opened once at either 1 or 2 threads, 52.9 MB
after a 1-thread session and then a 2-thread one).

Latency: batch 1, single stream (each run starts when the previous one ended, the MLPerf Mobile way), after
``warmup`` untimed runs, until at least ``min_runs`` runs AND ``min_duration_s`` seconds are done.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

if __name__ == "__main__" and sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # run by path, this folder heads sys.path: its run.py, report.py and schema.py would shadow any library's
    # module of that name
    sys.path.pop(0)

from mobile_distill.targets.base import AppModel  # noqa: E402 - after the sys.path fix above; imports nothing heavy

SAMPLES_KEPT = 1000  # per round and thread count, for the plots; percentiles are taken over every run


class RunnerModel(AppModel):
    """A folder without an app-like loader, through `mobile_distill.runners`: torch and transformers come with
    it, and its baseline holds them. Opened from the folder, not the model file, and tokenizes itself."""

    modules = ("mobile_distill.runners",)
    settings = "the mobile_distill runner (torch and transformers imported)"

    def __init__(self, folder: Path, threads: int, seq_len: int):
        from mobile_distill.runners import load_runner

        self.runner = load_runner(folder, threads=threads, seq_len=seq_len)

    def encode(self, text: str) -> dict:
        return self.runner.encode([text], pad_to_length=True)

    def __call__(self, feeds: dict):
        return self.runner.predict(feeds)


def rss_mb(field: str) -> float:
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


def reset_peak() -> bool:
    """Set the kernel's peak (VmHWM) to the resident memory now (Linux: "5" to clear_refs), so a transient
    peak of the imports is not counted as the model's. False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def timed_runs(call, warmup: int, min_runs: int, min_duration_s: float, clock=time.perf_counter) -> tuple[list, float]:
    """Run ``call`` ``warmup`` times untimed, then time it until at least ``min_runs`` runs AND ``min_duration_s``
    seconds are done. Returns (milliseconds per run, seconds of the timed loop)."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    began = clock()
    while len(samples) < min_runs or clock() - began < min_duration_s:
        start = clock()
        call()
        samples.append((clock() - start) * 1e3)
    return samples, clock() - began


def _loader(spec: dict):
    if not spec.get("app"):
        return RunnerModel
    module, _, attribute = spec["app"].partition(":")
    return getattr(importlib.import_module(module), attribute)


def _feeds(spec: dict) -> dict | None:
    if not spec.get("ids"):
        return None
    import numpy as np

    with np.load(spec["ids"]) as ids:
        return {name: ids[name] for name in ids.files}


def _open(loader, spec: dict, threads: int):
    if loader is RunnerModel:
        return RunnerModel(Path(spec["folder"]), threads, spec["seq_len"])
    return loader(Path(spec["model"]), threads, spec["inputs"], spec["output"])


def _one_thread_count(loader, spec: dict, feeds: dict | None, threads: int) -> dict:
    start = time.perf_counter()
    model = _open(loader, spec, threads)
    loaded = time.perf_counter()
    batch = feeds if feeds is not None else model.encode(spec["text"])
    model(batch)
    cold = time.perf_counter() - loaded
    samples, seconds = timed_runs(lambda: model(batch), spec["warmup"], spec["runs"], spec["min_duration_s"])
    del model  # the next thread count opens its own
    step = max(1, -(-len(samples) // SAMPLES_KEPT))
    return {"threads": threads, "load_seconds": loaded - start, "cold_seconds": cold, "seconds": seconds,
            "all_samples_ms": samples, "samples_ms": [round(value, 4) for value in samples[::step]]}


def loaded_packages() -> list[str]:
    """Top-level packages this process imported, the standard library and private modules aside: what its
    baseline holds besides Python (an app-like process: numpy, the runtime, mobile_distill's target table)."""
    names = {name.partition(".")[0] for name in sys.modules}
    return sorted(name for name in names if name not in sys.stdlib_module_names and not name.startswith("_"))


def measure(spec: dict) -> dict:
    loader = _loader(spec)
    feeds = _feeds(spec)
    loader.import_runtime()
    peak_reset = reset_peak()
    baseline = rss_mb("VmRSS")
    first = _one_thread_count(loader, spec, feeds, spec["threads"][0])
    peak = rss_mb("VmHWM")  # the model opened once (see the module's docstring)
    rest = [_one_thread_count(loader, spec, feeds, threads) for threads in spec["threads"][1:]]
    return {"baseline_rss_mb": baseline, "peak_rss_mb": peak, "peak_reset": peak_reset, "settings": loader.settings,
            "packages": loaded_packages(), "threads": [first, *rest]}


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = measure(json.loads(Path(sys.argv[1]).read_text()))
    Path(sys.argv[2]).write_text(json.dumps(result))
