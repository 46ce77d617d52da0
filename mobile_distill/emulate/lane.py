"""The aarch64 lane: every ONNX, TFLite and ExecuTorch artifact of a bench also run by the aarch64
build of its own runtime under qemu, once per emulated CPU (`cpus.py`), on a seeded sample of the
bench's test rows, fed the very ids the x86 run was fed. Each run joins the bench report as a device
entry, ``<artifact> @ arm64 (emulated, <cpu>)``, judged by gate 2 against the PyTorch reference on
the same rows, exactly as a phone's results are (`mobile_distill.device`). Its agreement with the
x86 run of the same file is recorded beside it: what the phone's kernels change.

Latency under emulation means nothing (one inference is ~100-500x slower than native), so none is
reported. What the lane shows is the numerics of the CPU kernels the runtimes choose for each CPU;
what it cannot show is listed in docs/aarch64-lane.md (GPU/NNAPI/NPU delegates, Android's own
builds of the runtimes, speed, heat).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ui
from ..bench.gate2 import coarse_thresholds, overall_verdict
from ..bench.schema import Scores, BenchReport, ModelEntry
from ..config import Gate2Config
from ..device.results import judge_on_device, put_beside
from ..metrics import agreement, classification_metrics, mean_kl, predictions
from ..targets import get_target
from .cpus import EmulatedCpu, device_name, get_cpus
from .fallback import LaneFallback, can_fall_back, fall_back_on_cpus
from .fallback import note as fallback_note
from .layers import diagnose_departure
from .process import last_line, run_emulated
from .toolchain import Toolchain, find_toolchain

LANE_TARGETS = ("onnx", "tflite", "executorch")
SAMPLE_SEED = 20261206  # the same rows for every artifact, CPU and run
BATCH = 32  # rows per call where the format takes a batch (ONNX), as the x86 runner sends them


@dataclass(frozen=True)
class LaneRun:
    """One artifact on one emulated CPU: logits, or why it did not run."""

    cpu: EmulatedCpu
    logits: np.ndarray | None
    error: str | None
    seconds: float


def sample_rows(count: int, rows: int) -> np.ndarray:
    """Indices of a seeded sample of ``rows`` of ``count`` test rows (all of them when rows >= count), in order."""
    if rows >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(SAMPLE_SEED).permutation(count)[:rows])


@dataclass(frozen=True)
class LaneJob:
    """One artifact to run on every CPU: the ids the x86 runner fed it, that run's logits, rows per call."""

    folder: Path
    feeds: dict
    host_logits: np.ndarray
    step: int


def run_jobs(toolchain: Toolchain, jobs: list[LaneJob], cpus: list[EmulatedCpu], log: Path | None = None,
             parallel: int | None = None, on_done=None) -> dict[str, tuple[dict, list[LaneRun]]]:
    """Every job on every CPU: one worker process per CPU (its runtimes imported once, ~5-10 s under emulation),
    CPUs in parallel. Returns, per CPU name, what the worker saw of the CPU and one `LaneRun` per job.
    ``on_done(cpu, job index)`` is called as each job finishes (from the CPU's thread)."""
    with tempfile.TemporaryDirectory(prefix="mobile-distill-arm64-") as scratch:
        for index, job in enumerate(jobs):
            np.savez(Path(scratch) / f"ids-{index}.npz", **job.feeds)

        def one(cpu: EmulatedCpu) -> tuple[dict, list[LaneRun]]:
            outputs = [Path(scratch) / f"logits-{cpu.name}-{index}.npz" for index in range(len(jobs))]
            listing = Path(scratch) / f"jobs-{cpu.name}.json"
            listing.write_text(json.dumps([
                {"artifact": str(job.folder.resolve()), "ids": str(Path(scratch) / f"ids-{i}.npz"), "output": str(out),
                 "step": job.step} for i, (job, out) in enumerate(zip(jobs, outputs))]))
            def progress(line: str) -> None:
                if on_done is not None and line.startswith('{"done"'):
                    on_done(cpu, json.loads(line)["done"])

            try:
                result = run_emulated(toolchain, cpu, ["batch", str(listing), "--bridge", str(toolchain.bridge)], log,
                                      on_line=progress)
            except subprocess.TimeoutExpired:
                return {}, [LaneRun(cpu, None, f"no answer in {WORKER_TIMEOUT} s", 0.0) for _ in jobs]
            if result.returncode != 0:
                return {}, [LaneRun(cpu, None, last_line(result), 0.0) for _ in jobs]
            answer = json.loads(result.stdout.strip().splitlines()[-1])
            return answer["info"], [_lane_run(cpu, outcome, out) for outcome, out in zip(answer["jobs"], outputs)]

        workers = max(1, min(len(cpus), parallel or os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:  # each worker runs its models on one thread
            return dict(zip([cpu.name for cpu in cpus], pool.map(one, cpus)))


def _lane_run(cpu: EmulatedCpu, outcome: dict, output: Path) -> LaneRun:
    if "error" in outcome or not output.is_file():
        return LaneRun(cpu, None, outcome.get("error", "the worker wrote no logits"), 0.0)
    with np.load(output) as data:
        return LaneRun(cpu, data["logits"], None, outcome["seconds"])


def run_artifact(toolchain: Toolchain, folder: Path, feeds: dict[str, np.ndarray], cpus: list[EmulatedCpu],
                 step: int, log: Path | None = None) -> list[LaneRun]:
    """One artifact's model run on ``feeds`` (the ids, in the manifest's dtypes) on every CPU in ``cpus``."""
    job = LaneJob(Path(folder), feeds, np.zeros(0), step)
    return [runs[0] for _, runs in run_jobs(toolchain, [job], cpus, log).values()]


def lane_feeds(folder: Path, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """The ids the x86 runner feeds the artifact for ``texts`` (its own tokenizer, its manifest's dtypes),
    the logits of that x86 run, and how many rows go per call."""
    from ..runners import load_runner

    runner = load_runner(folder, threads=1)
    batch = runner.encode(texts)
    feeds = {name: np.asarray(batch[name]).astype(runner.dtypes[name]) for name in runner.input_names}
    step = min(BATCH, runner.max_batch or BATCH)
    return feeds, runner.predict(feeds, batch_size=step), step


def emulate_bench(report: BenchReport, texts: list[str], labels: np.ndarray, reference_logits: np.ndarray,
                  cpu_names, rows: int, gate: Gate2Config, log: Path | None = None,
                  toolchain: Toolchain | None = None, diagnose: bool = True,
                  fallback: LaneFallback | None = None) -> BenchReport:
    """Run every host artifact of ``report`` that the lane takes on each CPU; add each run as a device entry
    judged by gate 2 against the reference on the same sample rows. ``reference_logits``: the reference's
    logits on all of ``texts``. ``fallback``: re-export a file that fails only on emulated CPUs with the
    departing layers kept float (`emulate.fallback`)."""
    cpus = get_cpus(cpu_names)
    toolchain = toolchain or find_toolchain()
    chosen = sample_rows(len(texts), rows)
    sample = [texts[i] for i in chosen]
    sample_labels, sample_reference = np.asarray(labels)[chosen], reference_logits[chosen]
    reference = _sample_reference(report, sample_labels, sample_reference)
    hosts = [entry for entry in report.host_artifacts() if entry.target in LANE_TARGETS and entry.status == "ran"]
    with ui.progress("aarch64 lane", len(hosts) * len(cpus)) as bar:
        bar.update(f"{len(hosts)} artifact(s) on {', '.join(cpu.name for cpu in cpus)}, emulated")
        jobs = [LaneJob(Path(host.path), *lane_feeds(Path(host.path), sample)) for host in hosts]
        lock = threading.Lock()

        def done(cpu: EmulatedCpu, index: int) -> None:
            with lock:
                bar.update(f"{hosts[index].name} done on {cpu.name}", advance=1)

        results = run_jobs(toolchain, jobs, cpus, log, on_done=done)
        judged = _Judged(toolchain, reference, gate, sample, sample_labels, sample_reference, log)
        for index, (host, job) in enumerate(zip(hosts, jobs)):
            failures = []
            for cpu in cpus:
                run = results[cpu.name][1][index]
                entry = judged.entry(host, run, job.host_logits)
                if diagnose and entry.verdict.status == "FAIL" and run.logits is not None:
                    bar.update(f"diagnosing {entry.name}")
                    entry.diagnosis = diagnose_departure(toolchain, entry, cpu, job.feeds, run.logits,
                                                         job.host_logits, log)
                    failures.append((entry, cpu))
                put_beside(report, host, entry)
            if fallback is not None and failures and all(can_fall_back(entry) for entry, _ in failures):
                bar.update(f"auto-fallback for {host.name}")
                _fall_back(report, host, failures, fallback, judged, job.feeds)
    _record_devices(report, toolchain, cpus, {name: info for name, (info, _) in results.items()}, chosen, reference)
    for warning in coarse_thresholds(len(chosen), {entry.precision for entry in hosts}, gate,
                                     "aarch64 lane sample rows", "emulate more rows (--emulate-rows)"):
        if warning not in report.warnings:
            report.warnings.append(warning)
    report.verdict = overall_verdict(report)
    return report


@dataclass(frozen=True)
class _Judged:
    """Turns a lane run into a judged device entry, and runs a new file through the lane (auto-fallback)."""

    toolchain: Toolchain
    reference: ModelEntry
    gate: Gate2Config
    texts: list[str]
    labels: np.ndarray
    reference_logits: np.ndarray
    log: Path | None

    def entry(self, host: ModelEntry, run: LaneRun, host_logits: np.ndarray) -> ModelEntry:
        entry = lane_entry(host, run, self.toolchain, self.labels, self.reference_logits, host_logits)
        return judge_on_device(entry, self.reference, self.gate, entry.device)

    def run_on(self, host: ModelEntry, cpus: list[EmulatedCpu]) -> list[ModelEntry]:
        job = LaneJob(Path(host.path), *lane_feeds(Path(host.path), self.texts))
        results = run_jobs(self.toolchain, [job], cpus, self.log)
        return [self.entry(host, results[cpu.name][1][0], job.host_logits) for cpu in cpus]


def _fall_back(report: BenchReport, host: ModelEntry, failures: list, settings: LaneFallback, judged: _Judged,
               feeds: dict) -> None:
    entries, record = fall_back_on_cpus(host, failures, settings, judged.run_on, feeds)
    replacement = entries[0] if entries else None
    for entry, _ in failures:
        entry.fallback = record
        entry.verdict.reasons.append(fallback_note(record, replacement))
    if replacement is not None:
        report.models.append(replacement)
        for device_entry in entries[1:]:
            put_beside(report, replacement, device_entry)


def _sample_reference(report: BenchReport, labels: np.ndarray, logits: np.ndarray) -> ModelEntry:
    metrics = classification_metrics(logits, labels)
    main = report.entry("reference")
    return ModelEntry(role="reference", name="pytorch reference (aarch64 lane sample)", target="torch",
                      precision="fp32", path=main.path if main else "", sequence_length=0, size_bytes=0,
                      scores=Scores(rows=len(labels), accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"]))


def lane_entry(host: ModelEntry, run: LaneRun, toolchain: Toolchain, labels: np.ndarray, reference: np.ndarray,
               host_logits: np.ndarray) -> ModelEntry:
    """One emulated run as a device entry: accuracy on the sample, agreement with the reference and with
    the x86 run of the same file."""
    label = device_name(run.cpu)
    runtime = {"name": get_target(host.target).runtime_package,
               "threads": 1, "delegate": "cpu", "emulator": f"qemu {toolchain.qemu_version(run.cpu.emulator)}",
               "cpu": run.cpu.qemu_cpu, "latency": "not measured: meaningless under emulation",
               "seconds": round(run.seconds, 3)}
    runtime["version"] = toolchain.versions.get(runtime["name"], "?")
    entry = host.model_copy(update={"name": f"{host.name} @ {label}", "device": label, "runtime": runtime,
                                    "performance": None, "verdict": None, "teacher_retention": None, "diagnosis": None,
                                    "fallback": None, "contract": [], "accuracy": None})
    if run.logits is None:
        entry.status, entry.note = "not-run", f"the aarch64 worker failed: {run.error}"
        return entry
    logits = run.logits.astype(np.float32)
    metrics = classification_metrics(logits, labels)
    entry.predictions = [int(p) for p in predictions(logits)]  # -1 where a logit is not finite
    entry.logits = [[float(v) if np.isfinite(v) else None for v in row] for row in logits]
    entry.scores = Scores(
        rows=len(labels), accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"],
        agreement_reference=agreement(logits, reference), max_abs_logit_diff=_max_diff(logits, reference),
        mean_abs_logit_diff=float(np.nanmean(np.abs(logits - reference))), mean_kl=mean_kl(reference, logits),
        agreement_host=agreement(logits, host_logits), max_abs_logit_diff_host=_max_diff(logits, host_logits))
    return entry


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float("inf") if not np.isfinite(difference).all() else float(difference.max(initial=0.0))


def _record_devices(report: BenchReport, toolchain: Toolchain, cpus: list[EmulatedCpu], seen: dict[str, dict],
                    chosen: np.ndarray, reference: ModelEntry) -> None:
    """What each emulated CPU was (as its worker saw it: features, runtime versions), in report.devices."""
    for cpu in cpus:
        label, info = device_name(cpu), seen.get(cpu.name) or {}
        report.devices = [d for d in report.devices if d.get("label") != label] + [{
            "label": label, "kind": "emulated", "cpu": cpu.name, "qemu_cpu": cpu.qemu_cpu,
            "architecture": cpu.architecture, "features": info.get("features", []),
            "emulator": f"qemu {toolchain.qemu_version(cpu.emulator)}", "runtimes": info.get("versions", {}),
            "rows": len(chosen), "sample_seed": SAMPLE_SEED, "reference_accuracy": reference.scores.accuracy}]
