"""Bench: every artifact in its own runtime beside the PyTorch reference, then gate 2 (see the package
docstring)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import ui
from ..config import BenchConfig, Gate2Config
from ..errors import ConfigError, Gate2Failure, ModelError
from ..manifest import read_manifest
from ..hashing import file_sha256
from ..layout import BENCH_LOG, MANIFEST, QAT_LOG
from ..metrics import agreement, classification_metrics, mean_kl
from ..runners import load_runner
from .baseline import compare_with_baseline, load_report
from .contract import check_contract, check_integrity, unloadable
from .device import device_info
from .fallback import can_fall_back, fall_back
from .fallback import note as fallback_note
from .gate2 import apply_gate, chain_summary, judge_one, overall_verdict
from .measure import TimingPlan, measure_models
from .schema import Scores, BenchReport, ModelEntry
from .sources import labels_as_model_indices


def expand_artifacts(paths: list[Path]) -> list[Path]:
    """Artifact folders named directly, or every artifact folder inside a folder (e.g. RUN/artifacts).

    Hidden folders inside are never artifacts: an export stages its work in ``.NAME.*`` beside its
    target (`training.atomic_folder`), and one killed mid-write leaves that staging folder behind.
    """
    found = []
    for path in map(Path, paths):
        if (path / MANIFEST).is_file():
            found.append(path)
        elif path.is_dir() and (inside := sorted(p.parent for p in path.glob(f"*/{MANIFEST}")
                                                 if not p.parent.name.startswith("."))):
            found.extend(inside)
        else:
            raise ConfigError(f"{path}: not an artifact folder (no {MANIFEST}) and holds none; "
                              "pass folders written by `mobile-distill export`")
    return found


def run_bench(artifacts: list[Path], texts: list[str], labels: np.ndarray, reference: Path,
              teacher: Path | None = None, settings: BenchConfig = BenchConfig(), gate: Gate2Config = Gate2Config(),
              seq_len: int = 128, data_info: dict | None = None,
              calibration_texts: list[str] | None = None, log: Path | None = None) -> BenchReport:
    """Measure ``artifacts`` and the reference (and teacher) on ``texts``/``labels``; judge with gate 2.

    ``calibration_texts``: training texts, for --auto-fallback to re-quantize static int8 models.
    ``log``: where the runtimes' own output goes (it would interleave with the progress bars).
    """
    if not texts:
        raise ConfigError("bench needs labelled texts; the test split is empty")
    labels = np.asarray(labels)
    baseline = load_report(Path(settings.baseline)) if settings.baseline else None  # a bad one fails before any work
    timing_text = sorted(texts, key=len)[len(texts) // 2]  # a real text of median length
    with ui.stage("bench", f"{len(artifacts)} artifact(s) on {len(texts):,} labelled test rows, each in its own "
                  "runtime") as stage, ui.native_output_to(log):
        references, models, teacher_logits = _accuracy_pass(artifacts, texts, labels, reference, teacher,
                                                            max(settings.threads), seq_len)
        _measure(models, settings, timing_text)
        plan = TimingPlan.of(settings)
        report = BenchReport(
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), device=device_info(),
            data={**(data_info or {}), "rows": len(texts), "labels": list(references.runner.labels)},
            settings={"threads": list(plan.threads), "runs": plan.runs, "warmup": plan.warmup, "rounds": plan.rounds,
                      "min_duration_s": plan.min_duration_s, "release_timing": settings.release_timing,
                      "max_round_spread": plan.max_round_spread, "reference_sequence_length": seq_len,
                      "timing_text_characters": len(timing_text)},
            thresholds={}, models=models)
        apply_gate(report, gate)

        def judge(folder: Path) -> ModelEntry:
            return judge_one(report, references.judged(folder, teacher_logits), gate)

        if settings.auto_fallback:
            _auto_fallback(report, judge, settings, texts, calibration_texts or texts, timing_text)
        if settings.emulate:
            _emulate(report, settings, gate, texts, labels, references.logits, log,
                     judge if settings.auto_fallback else None, calibration_texts or texts)
        if settings.diagnose:
            _diagnose_failures(report, reference, texts, labels)
        if baseline is not None:
            compare_with_baseline(report, Path(settings.baseline), settings, baseline)
        report.warnings += timing_warnings(report)
        report.notes = speed_notes(report)
        stage.summary = f"gate 2 {report.verdict}: " + ", ".join(
            f"{count} {status}" for status, count in _verdict_counts(report).items())
    return report


def _accuracy_pass(artifacts: list[Path], texts: list[str], labels: np.ndarray, reference: Path, teacher: Path | None,
                   threads: int, seq_len: int) -> tuple[_References, list[ModelEntry], np.ndarray | None]:
    """The teacher, the reference and every artifact run on every text: entries in report order."""
    with ui.progress("accuracy", len(artifacts) + 1 + (teacher is not None)) as bar:
        bar.update("accuracy of the reference")
        reference_runner = load_runner(reference, threads=threads, seq_len=seq_len)
        reference_logits = reference_runner.predict(texts)
        models = [_torch_entry("reference", reference, reference_logits, labels, seq_len)]
        bar.update(advance=1)
        teacher_logits = None
        if teacher is not None:
            bar.update("accuracy of the teacher")
            teacher_logits = load_runner(teacher, threads=threads, seq_len=seq_len).predict(texts)
            models.insert(0, _torch_entry("teacher", teacher, teacher_logits, labels, seq_len))
            bar.update(advance=1)
        references = _References(reference, reference_runner, reference_logits, texts, labels, threads, seq_len)
        for folder in artifacts:
            bar.update(f"accuracy of {folder.name}")
            models.append(references.judged(folder, teacher_logits))
            bar.update(advance=1)
        models[1 + (teacher is not None):1 + (teacher is not None)] = references.entries
    return references, models, teacher_logits


def _verdict_counts(report: BenchReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in report.artifacts():
        status = entry.verdict.status if entry.verdict else "?"
        counts[status] = counts.get(status, 0) + 1
    return counts


def _measure(entries: list[ModelEntry], settings: BenchConfig, timing_text: str) -> None:
    """Every entry that ran (when timing is on), in rounds interleaved across the entries (bench/measure.py)."""
    entries = [entry for entry in entries if entry.status == "ran"] if settings.timing else []
    if not entries:
        return
    plan = TimingPlan.of(settings)
    with ui.progress("speed and memory", len(entries) * plan.rounds) as bar:
        def progress(index: int, round_: int) -> None:  # one process done (the first call: none yet)
            bar.update(f"timing {entries[index].name}, round {round_ + 1} of {plan.rounds}",
                       advance=0 if index == round_ == 0 else 1)

        models = [(Path(entry.path), entry.sequence_length) for entry in entries]
        for entry, performance in zip(entries, measure_models(models, timing_text, plan, progress=progress)):
            entry.performance = performance
        bar.update(advance=1)


def _auto_fallback(report: BenchReport, judge, settings: BenchConfig, texts: list[str], calibration_texts: list[str],
                   timing_text: str) -> None:
    for original in [entry for entry in report.artifacts() if can_fall_back(entry)]:
        replacement, record = fall_back(original, judge, texts, calibration_texts)
        original.fallback = record
        original.verdict.reasons.append(fallback_note(record, original, replacement))
        if replacement is not None:
            replacement.replaces = original.name
            _measure([replacement], settings, timing_text)
            report.models.append(replacement)
    report.verdict = overall_verdict(report)
    report.chain = chain_summary(report)


def _emulate(report: BenchReport, settings: BenchConfig, gate: Gate2Config, texts, labels, reference_logits, log,
             judge, calibration_texts) -> None:
    """The aarch64 lane (`mobile_distill.emulate`): every artifact on each emulated ARM CPU, judged there;
    with auto-fallback, a file that fails only there is re-exported with the failing layer kept float."""
    from ..emulate.fallback import LaneFallback
    from ..emulate.lane import emulate_bench

    fallback = LaneFallback(judge, calibration_texts, texts) if judge is not None else None
    emulate_bench(report, texts, labels, reference_logits, settings.emulate, settings.emulate_rows, gate, log=log,
                  diagnose=settings.diagnose, fallback=fallback)


def _accuracy(logits: np.ndarray, labels: np.ndarray, reference: np.ndarray | None, teacher: np.ndarray | None) -> Accuracy:
    metrics = classification_metrics(logits, labels)
    values = {"rows": metrics["examples"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
    if reference is not None:
        difference = np.abs(logits - reference)
        values.update(agreement_reference=agreement(logits, reference), max_abs_logit_diff=float(difference.max()),
                      mean_abs_logit_diff=float(difference.mean()), mean_kl=mean_kl(reference, logits))
    if teacher is not None:
        values["agreement_teacher"] = agreement(logits, teacher)
    return Scores(**values)


def _torch_entry(role: str, folder: Path, logits: np.ndarray, labels: np.ndarray, seq_len: int,
                 name: str | None = None) -> ModelEntry:
    return ModelEntry(role=role, name=name or f"pytorch {role}", target="torch", precision="fp32", path=str(folder),
                      sequence_length=seq_len, size_bytes=_size(*Path(folder).glob("*.safetensors")),
                      accuracy=_accuracy(logits, labels, None, None))


class _References:
    """The PyTorch model each artifact is judged against: the reference, or, for an artifact exported from
    a QAT student of the reference (its manifest's source holds a qat_log.json naming the reference as
    the student it came from), that QAT student, run once here as a ``variant`` entry. A QAT student is
    a retrained model: against the reference its artifacts disagreed on ~5% of rows however exactly
    they reproduced it. Any other source is judged against the reference, as asked."""

    def __init__(self, reference: Path, runner, logits, texts, labels, threads: int, seq_len: int):
        self.main = Path(reference).resolve()
        self.runner, self.logits = runner, logits  # the reference's own
        self.found = {self.main: (runner, logits, None)}
        self.entries: list[ModelEntry] = []  # the variant entries (one per QAT student met)
        self.texts, self.labels, self.threads, self.seq_len = texts, labels, threads, seq_len

    def judged(self, folder: Path, teacher_logits) -> ModelEntry:
        runner, logits, name = self._for(folder)
        entry = _artifact_entry(folder, runner, self.texts, self.labels, logits, teacher_logits, self.threads)
        entry.reference = name
        return entry

    def _for(self, folder: Path):
        source = Path(read_manifest(folder).source.get("path") or self.main)
        key = source.resolve()
        if key not in self.found:
            if not _qat_student_of(source, self.main):
                return self.found[self.main]
            runner = load_runner(source, threads=self.threads, seq_len=self.seq_len)
            logits = runner.predict(self.texts)
            name = f"pytorch {source.name}"
            self.entries.append(_torch_entry("variant", source, logits, self.labels, self.seq_len, name))
            self.found[key] = (runner, logits, name)
        return self.found[key]


def _qat_student_of(source: Path, reference: Path) -> bool:
    log = source / QAT_LOG
    return log.is_file() and Path(json.loads(log.read_text()).get("student", "")).resolve() == reference


def _artifact_entry(folder: Path, reference_runner, texts, labels, reference_logits, teacher_logits, threads) -> ModelEntry:
    manifest = read_manifest(folder)
    entry = ModelEntry(role="artifact", name=folder.name, target=manifest.target, precision=manifest.precision,
                       path=str(folder), sequence_length=manifest.sequence_length,
                       size_bytes=_size(folder / manifest.model_file),
                       model_sha256=_sha256(folder / manifest.model_file))
    integrity = check_integrity(folder, manifest, entry.model_sha256)  # the file is hashed once
    if not integrity.ok:  # every figure of another file than the one exported would be about the wrong model
        entry.contract, entry.status = [integrity], "contract-failed"
        return entry
    try:
        runner = load_runner(folder, threads=threads)
    except ModelError as error:  # e.g. Core ML off macOS: reported as not run, never as a pass
        entry.status, entry.note = "not-run", str(error).split(": ", 1)[-1]
        return entry
    except Exception as error:  # noqa: BLE001 - a file its runtime refuses (truncated, corrupt) is a FAIL, not a crash
        entry.contract, entry.status = [integrity, unloadable(folder / manifest.model_file, error)], "contract-failed"
        return entry
    entry.contract = [integrity, *check_contract(runner, reference_runner, texts)]
    if not all(check.ok for check in entry.contract):
        entry.status = "contract-failed"  # accuracy of a file that breaks its own interface means nothing
        return entry
    entry.scores = _accuracy(runner.predict(texts), labels, reference_logits, teacher_logits)
    return entry


def _sha256(path: Path) -> str | None:
    return file_sha256(path) if path.is_file() else None  # Core ML's .mlpackage is a folder


def _size(*paths: Path) -> int:
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total


def _diagnose_failures(report: BenchReport, reference: Path, texts: list[str], labels: np.ndarray) -> None:
    from ..diagnose import diagnose

    for entry in report.host_artifacts():  # a device's failures are diagnosed where they ran (emulate.diagnose)
        if entry.verdict.status == "FAIL":
            # the layer comparison needs the weights the file was made from: a QAT artifact's are not the reference's
            source = Path(read_manifest(Path(entry.path)).source.get("path", reference))
            entry.diagnosis = diagnose(Path(entry.path), source if source.is_dir() else reference, texts,
                                       labels.tolist()).to_dict()


def timing_warnings(report: BenchReport) -> list[str]:
    """Each model's timing warnings (rounds that disagreed), named, for the report's warnings."""
    return [f"{entry.name}: {warning}" for entry in report.models if entry.performance
            for warning in entry.performance.warnings]


def speed_notes(report: BenchReport) -> list[str]:
    """Say so when an int8 artifact is not faster than the fp32 artifact of the same target and length on
    the measuring machine, and why that is expected on a CPU without int8 dot-product instructions."""
    cpu = report.device.get("cpu", {})
    notes = []
    fp32 = {(e.target, e.sequence_length): e for e in report.artifacts() if e.precision == "fp32" and e.performance}
    for entry in report.artifacts():
        base = fp32.get((entry.target, entry.sequence_length))
        if not entry.precision.startswith("int8") or entry.performance is None or base is None:
            continue
        ours, theirs = entry.performance.latency[0], base.performance.latency[0]
        if ours.p50_ms < 0.95 * theirs.p50_ms:
            continue
        why = ("this CPU has int8 dot-product instructions, so the limit is this runtime's int8 kernels or the "
               "model's size (on small matrices the quantize/dequantize steps cost more than they save)"
               if cpu.get("int8_dot_product") else
               "this CPU has no int8 dot-product instructions (VNNI/AMX on x86, dot-product/i8mm on ARM), where "
               "int8 kernels run no faster than fp32")
        notes.append(f"{entry.name}: p50 {ours.p50_ms:.2f} ms at {ours.threads} thread(s) is not faster than "
                     f"{base.name}'s {theirs.p50_ms:.2f} ms on this machine ({cpu.get('summary', 'CPU unknown')}): "
                     f"{why}; int8 still cuts the size, and phones with dot-product units gain speed from it")
    return notes


def bench_prepared(artifacts: list[Path], data, reference: Path, teacher: Path | None, settings: BenchConfig,
                   gate: Gate2Config, seq_len: int, output_dir: Path,
                   device_results: list[Path] = ()) -> tuple[BenchReport, dict[str, Path]]:
    """Bench on a prepared data set's test split, write every report to ``output_dir``, raise on FAIL.

    ``device_results``: the Android demo's results files, merged in and judged (`mobile_distill.device`).

    Raises `Gate2Failure` (exit 1, carrying the report) after the reports are written when any
    artifact fails gate 2 or regresses against the baseline.
    """
    from ..models import read_labels

    test = data.splits["test"]
    model_labels = list(read_labels(Path(reference)))
    labels, mapping = labels_as_model_indices(list(data.labels), model_labels, np.asarray(test["label"]))
    info = {"source": data.info.get("source"), "split": "test", "fingerprint": data.info.get("fingerprint")}
    if mapping:
        info["label_mapping"] = mapping
    report = run_bench(artifacts, list(test["text"]), labels, Path(reference), teacher, settings, gate, seq_len,
                       info, calibration_texts=list(data.splits["train"]["text"]), log=Path(output_dir) / BENCH_LOG)
    if device_results:
        from ..device import merge_device_results

        merge_device_results(report, list(device_results), gate)
    return report, publish(report, Path(output_dir))


def publish(report: BenchReport, output_dir: Path) -> dict[str, Path]:
    """Write every report to ``output_dir``; then raise `Gate2Failure` (exit 1, carrying the report) when
    any artifact failed gate 2, on this machine or on a device, or regressed against the baseline."""
    from .report import write_reports

    paths = write_reports(report, Path(output_dir))
    if report.verdict == "FAIL":
        failed = [entry.name for entry in report.artifacts() if entry.verdict and entry.verdict.status == "FAIL"]
        raise Gate2Failure(f"gate 2 failed for {', '.join(failed) or 'the baseline comparison'}; report {paths['html']}",
                           report)
    return paths


__all__ = ["BenchReport", "bench_prepared", "expand_artifacts", "publish", "run_bench"]
