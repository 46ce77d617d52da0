"""Bench stage: every artifact on the same labelled test split through its own runtime, beside the
PyTorch reference it came from and the teacher, then gate 2 and (on FAIL) diagnosis.

Order per artifact: the interface contract check (bench/contract.py) first; only an artifact
whose file honours its manifest gets accuracy numbers. Speed and memory are measured in a fresh
process per model (bench/measure.py). Results follow the versioned schema in bench/schema.py.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, TimeElapsedColumn

from ..config import BenchConfig, Gate2Config
from ..errors import ConfigError, GateFailure, ModelError
from ..evaluate import agreement, classification_metrics
from ..export.artifact import MANIFEST, read_manifest, tool_versions
from ..runners import load_runner
from .baseline import compare_with_baseline, load_report
from .contract import check_contract
from .fallback import can_fall_back, fall_back
from .fallback import note as fallback_note
from .gate2 import apply_gate, chain_summary, judge_one, overall_verdict
from .measure import measure_performance
from .schema import Accuracy, BenchReport, ModelEntry


def expand_artifacts(paths: list[Path]) -> list[Path]:
    """Artifact folders named directly, or every artifact folder inside a folder (e.g. RUN/artifacts)."""
    found = []
    for path in map(Path, paths):
        if (path / MANIFEST).is_file():
            found.append(path)
        elif path.is_dir() and (inside := sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))):
            found.extend(inside)
        else:
            raise ConfigError(f"{path}: not an artifact folder (no {MANIFEST}) and holds none; "
                              "pass folders written by `mobile-distill export`")
    return found


def run_bench(artifacts: list[Path], texts: list[str], labels: np.ndarray, reference: Path,
              teacher: Path | None = None, settings: BenchConfig = BenchConfig(), gate: Gate2Config = Gate2Config(),
              seq_len: int = 128, data_info: dict | None = None,
              calibration_texts: list[str] | None = None) -> BenchReport:
    """Measure ``artifacts`` and the reference (and teacher) on ``texts``/``labels``; judge with gate 2.

    ``calibration_texts``: training texts, for --auto-fallback to re-quantize static int8 models.
    """
    if not texts:
        raise ConfigError("bench needs labelled texts; the test split is empty")
    labels = np.asarray(labels)
    baseline = load_report(Path(settings.baseline)) if settings.baseline else None  # a bad one fails before any work
    console = Console(stderr=True)
    timing_text = sorted(texts, key=len)[len(texts) // 2]  # a real text of median length
    with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("bench", total=2 * len(artifacts) + 2 + (teacher is not None) * 2)

        def step(description: str):
            progress.update(task, description=description)

        step("bench: reference")
        reference_runner = load_runner(reference, threads=max(settings.threads), seq_len=seq_len)
        reference_logits = reference_runner.predict(texts)
        progress.advance(task)
        models = [_torch_entry("reference", reference, reference_logits, labels, seq_len)]
        teacher_logits = None
        if teacher is not None:
            step("bench: teacher")
            teacher_logits = load_runner(teacher, threads=max(settings.threads), seq_len=seq_len).predict(texts)
            models.insert(0, _torch_entry("teacher", teacher, teacher_logits, labels, seq_len))
            progress.advance(task)
        for folder in artifacts:
            step(f"bench: accuracy of {folder.name}")
            models.append(_artifact_entry(folder, reference_runner, texts, labels, reference_logits, teacher_logits,
                                          max(settings.threads)))
            progress.advance(task)
        for entry in models:
            step(f"bench: speed of {entry.name}")
            _measure(entry, settings, timing_text)
            progress.advance(task)
    report = BenchReport(
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), device=device_info(),
        data={**(data_info or {}), "rows": len(texts), "labels": list(reference_runner.labels)},
        settings={"threads": list(settings.threads), "runs": settings.runs, "warmup": settings.warmup,
                  "reference_sequence_length": seq_len, "timing_text_characters": len(timing_text)},
        thresholds={}, models=models)
    apply_gate(report, gate)
    if settings.auto_fallback:
        def judge(folder: Path) -> ModelEntry:
            attempt = _artifact_entry(folder, reference_runner, texts, labels, reference_logits, teacher_logits,
                                      max(settings.threads))
            return judge_one(report, attempt, gate)

        _auto_fallback(report, judge, settings, texts, calibration_texts or texts, timing_text)
    if settings.diagnose:
        _diagnose_failures(report, reference, texts, labels)
    if baseline is not None:
        compare_with_baseline(report, Path(settings.baseline), settings, baseline)
    return report


def _measure(entry: ModelEntry, settings: BenchConfig, timing_text: str) -> None:
    if entry.status == "ran" and settings.timing:
        entry.performance = measure_performance(Path(entry.path), timing_text, settings.threads, settings.runs,
                                                settings.warmup, entry.sequence_length)


def _auto_fallback(report: BenchReport, judge, settings: BenchConfig, texts: list[str], calibration_texts: list[str],
                   timing_text: str) -> None:
    for original in [entry for entry in report.artifacts() if can_fall_back(entry)]:
        replacement, record = fall_back(original, judge, texts, calibration_texts)
        original.fallback = record
        original.verdict.reasons.append(fallback_note(record, original, replacement))
        if replacement is not None:
            replacement.replaces = original.name
            _measure(replacement, settings, timing_text)
            report.models.append(replacement)
    report.verdict = overall_verdict(report)
    report.chain = chain_summary(report)


def _accuracy(logits: np.ndarray, labels: np.ndarray, reference: np.ndarray | None, teacher: np.ndarray | None) -> Accuracy:
    metrics = classification_metrics(logits, labels)
    values = {"rows": metrics["examples"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
    if reference is not None:
        difference = np.abs(logits - reference)
        values.update(agreement_reference=agreement(logits, reference), max_abs_logit_diff=float(difference.max()),
                      mean_abs_logit_diff=float(difference.mean()), mean_kl=mean_kl(reference, logits))
    if teacher is not None:
        values["agreement_teacher"] = agreement(logits, teacher)
    return Accuracy(**values)


def mean_kl(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean over rows of KL(softmax(reference) || softmax(other)), in nats; inf/NaN logits give inf."""
    if not np.isfinite(other).all():
        return float("inf")
    log_p = reference - np.logaddexp.reduce(reference, axis=-1, keepdims=True)
    log_q = other - np.logaddexp.reduce(other, axis=-1, keepdims=True)
    return max(0.0, float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))))  # >= 0 up to rounding


def _torch_entry(role: str, folder: Path, logits: np.ndarray, labels: np.ndarray, seq_len: int) -> ModelEntry:
    return ModelEntry(role=role, name=f"pytorch {role}", target="torch", precision="fp32", path=str(folder),
                      sequence_length=seq_len, size_bytes=_size(*Path(folder).glob("*.safetensors")),
                      accuracy=_accuracy(logits, labels, None, None))


def _artifact_entry(folder: Path, reference_runner, texts, labels, reference_logits, teacher_logits, threads) -> ModelEntry:
    manifest = read_manifest(folder)
    entry = ModelEntry(role="artifact", name=folder.name, target=manifest.target, precision=manifest.precision,
                       path=str(folder), sequence_length=manifest.sequence_length,
                       size_bytes=_size(folder / manifest.model_file))
    try:
        runner = load_runner(folder, threads=threads)
    except ModelError as error:  # e.g. Core ML off macOS: reported as not run, never as a pass
        entry.status, entry.note = "not-run", str(error).split(": ", 1)[-1]
        return entry
    entry.contract = check_contract(runner, reference_runner, texts)
    if not all(check.ok for check in entry.contract):
        entry.status = "contract-failed"  # accuracy of a file that breaks its own interface means nothing
        return entry
    entry.accuracy = _accuracy(runner.predict(texts), labels, reference_logits, teacher_logits)
    return entry


def _size(*paths: Path) -> int:
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total


def _diagnose_failures(report: BenchReport, reference: Path, texts: list[str], labels: np.ndarray) -> None:
    from ..diagnose import diagnose

    for entry in report.artifacts():
        if entry.verdict.status == "FAIL":
            entry.diagnosis = diagnose(Path(entry.path), reference, texts, labels.tolist()).to_dict()


def device_info() -> dict:
    import os

    return {"system": platform.system(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "tools": tool_versions()}




def bench_prepared(artifacts: list[Path], data, reference: Path, teacher: Path | None, settings: BenchConfig,
                   gate: Gate2Config, seq_len: int, output_dir: Path) -> tuple[BenchReport, dict[str, Path]]:
    """Bench on a prepared data set's test split, write every report to ``output_dir``, raise on FAIL.

    Raises `GateFailure` (exit 1) after the reports are written when any artifact fails gate 2 or
    regresses against the baseline.
    """
    from ..models import read_labels
    from .report import write_reports

    test = data.splits["test"]
    model_labels = list(read_labels(Path(reference)))
    if list(data.labels) != model_labels:
        raise ConfigError(f"the data's labels {list(data.labels)} are not the reference model's {model_labels} "
                          "(in logit order); bench needs the data the model was trained for")
    report = run_bench(artifacts, list(test["text"]), np.asarray(test["label"]), Path(reference), teacher, settings,
                       gate, seq_len, {"source": data.info.get("source"), "split": "test",
                                       "fingerprint": data.info.get("fingerprint")},
                       calibration_texts=list(data.splits["train"]["text"]))
    paths = write_reports(report, Path(output_dir))
    if report.verdict == "FAIL":
        failed = [entry.name for entry in report.artifacts() if entry.verdict.status == "FAIL"]
        raise GateFailure(f"gate 2 failed for {', '.join(failed) or 'the baseline comparison'}; report {paths['html']}",
                          report.model_dump(mode="json"))
    return report, paths


__all__ = ["BenchReport", "bench_prepared", "expand_artifacts", "mean_kl", "run_bench"]
