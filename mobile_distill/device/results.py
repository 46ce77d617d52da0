"""Phone results back in the toolkit: merge the Android demo's results files into a bench report,
beside the host numbers, and judge them with gate 2, so a model that collapses only on the phone
fails the gate with the device named.

A device results file is a bench.json (schema in bench/schema.py) written by the app's Java core:
its ``data`` echoes the bundled sample's labels and reference predictions, and each model entry
carries the SHA-256 of the file the phone ran and one prediction per sample row. The numbers the
gate uses are recomputed here from those predictions, never taken from the phone's summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ..bench.gate2 import chain_summary, coarse_thresholds, judge_artifact, overall_verdict
from ..bench.schema import SCHEMA, SCHEMA_VERSION, Scores, BenchReport, ModelEntry, Verdict
from ..config import Gate2Config
from ..errors import ConfigError, ModelError
from ..hashing import file_sha256
from ..metrics import prediction_metrics


def read_device_results(path: Path) -> BenchReport:
    """A results file, checked against the bench schema; every problem is one line naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such device results file; pull it from the phone with adb (android_demo/README.md)")
    try:
        results = BenchReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"{path}: not a {SCHEMA} results file: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if results.kind != SCHEMA or results.schema_version != SCHEMA_VERSION:
        raise ConfigError(f"{path}: kind {results.kind!r} version {results.schema_version}; this tool reads {SCHEMA} "
                          f"version {SCHEMA_VERSION}")
    for key in ("row_labels", "reference_predictions"):
        if not isinstance(results.data.get(key), list):
            raise ConfigError(f"{path}: data.{key} is missing; results must come from the app's benchmark screen")
    if len(results.data["row_labels"]) != len(results.data["reference_predictions"]):
        raise ConfigError(f"{path}: data.row_labels and data.reference_predictions differ in length")
    return results


def device_label(device: dict) -> str:
    """How a device is named in reports: maker, model and OS, e.g. "Google Pixel 7 (Android 14 (SDK 34))"."""
    maker, model = device.get("manufacturer") or "", device.get("model") or device.get("kind") or "device"
    name = model if model.lower().startswith(maker.lower()) else f"{maker} {model}".strip()
    return f"{name} ({device['os']})" if device.get("os") else name


def merge_device_results(report: BenchReport, paths: list[Path], gate: Gate2Config) -> BenchReport:
    """Add each device's run of each artifact to ``report`` as an entry of its own, judged by gate 2."""
    for path in map(Path, paths):
        results = read_device_results(path)
        if results.data.get("labels") and report.data.get("labels") and results.data["labels"] != report.data["labels"]:
            raise ConfigError(f"{path}: the phone's labels {results.data['labels']} are not this bench's "
                              f"{report.data['labels']}; bundle the artifacts this bench judged")
        label = device_label(results.device)
        labels = np.asarray(results.data["row_labels"])
        reference_predicted = np.asarray(results.data["reference_predictions"])
        reference = _sample_reference(results, reference_predicted, labels)
        for measured in results.models:
            host = _host_entry(report, measured, path)
            entry = _device_entry(measured, host, label, labels, reference_predicted, path)
            judge_on_device(entry, reference, gate, label)
            put_beside(report, host, entry)
        for warning in coarse_thresholds(len(labels), {m.precision for m in results.models}, gate,
                                         f"device sample rows ({path.name})", "bundle more (app-bundle --sample-size)"):
            if warning not in report.warnings:
                report.warnings.append(warning)
        report.devices = [d for d in report.devices if d.get("file") != str(path)] + [{
            "file": str(path), "device": results.device, "label": label, "created_at": results.created_at,
            "rows": len(labels), "reference_accuracy": reference.scores.accuracy,
            "sample_sha256": results.data.get("sample_sha256"),
            "settings": results.settings}]
    report.chain = chain_summary(report)
    report.verdict = overall_verdict(report)
    return report


def judge_on_device(entry: ModelEntry, reference: ModelEntry, gate: Gate2Config, label: str) -> ModelEntry:
    """Gate 2 for a run on a device, against the reference on the device's own sample; the device named."""
    entry.verdict = judge_artifact(entry, reference, None, gate)
    if entry.status == "not-run":  # unlike Core ML off macOS, the device is where it must run
        entry.verdict = Verdict(status="FAIL", reasons=[f"did not run: {entry.note or 'no reason given'}"])
    if entry.verdict.reasons:
        entry.verdict.reasons = [f"on {label}: " + "; ".join(entry.verdict.reasons)]
    return entry


def _sample_reference(results: BenchReport, predicted: np.ndarray, labels: np.ndarray) -> ModelEntry:
    """The PyTorch reference on the phone's sample (predicted at bundle time): the bar each device entry meets."""
    metrics = prediction_metrics(predicted, labels)
    return ModelEntry(role="reference", name="pytorch reference (device sample)", target="torch", precision="fp32",
                      path=str(results.data.get("reference", {}).get("path", "")), sequence_length=0, size_bytes=0,
                      scores=Scores(rows=len(labels), accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"]))


def _host_entry(report: BenchReport, measured: ModelEntry, path: Path) -> ModelEntry:
    hosts = {entry.name: entry for entry in report.host_artifacts()}
    host = hosts.get(measured.name)
    if host is None:
        raise ConfigError(f"{path}: {measured.name} is not in this bench (its artifacts: {', '.join(hosts) or 'none'}); "
                          "bench the artifacts you bundled for the app, then merge")
    model_file = None if host.model_sha256 else _model_file(host)  # a bench.json older than the hash field
    expected = host.model_sha256 or (file_sha256(model_file) if model_file else None)
    if expected is None:
        raise ConfigError(f"{path}: the bench has no hash of {measured.name}'s model file and the file is gone; "
                          "re-run bench on the artifact, then merge")
    if measured.model_sha256 != expected:
        got = (measured.model_sha256 or "none")[:12]
        raise ConfigError(f"{path}: {measured.name} ran on the device from a model file with SHA-256 {got}..., but the "
                          f"benched {measured.name} is {expected[:12]}...: the phone ran another export; run "
                          "`mobile-distill app-bundle` on the benched artifacts, reinstall the app and benchmark again")
    return host


def _model_file(host: ModelEntry) -> Path | None:
    from ..manifest import read_manifest

    folder = Path(host.path)
    try:
        path = folder / read_manifest(folder).model_file
    except ModelError:  # the artifact folder moved or went: no hash to recompute
        return None
    return path if path.is_file() else None


def _device_entry(measured: ModelEntry, host: ModelEntry, label: str, labels: np.ndarray, reference: np.ndarray,
                  path: Path) -> ModelEntry:
    predicted = np.asarray(measured.predictions if measured.predictions is not None else [], dtype=int)
    if measured.status == "ran" and len(predicted) != len(labels):
        raise ConfigError(f"{path}: {measured.name} has {len(predicted)} predictions for {len(labels)} sample rows")
    entry = measured.model_copy(update={"name": f"{measured.name} @ {label}", "device": label, "logits": None,
                                        "path": host.path, "verdict": None, "teacher_retention": None})
    if measured.status == "ran":
        metrics = prediction_metrics(predicted, labels)
        entry.scores = Scores(rows=len(labels), accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"],
                                  agreement_reference=float(np.mean(predicted == reference)))
    return entry


def put_beside(report: BenchReport, host: ModelEntry, entry: ModelEntry) -> None:
    """After its host artifact (and that artifact's earlier device entries); a re-merge replaces itself."""
    models = [model for model in report.models if model.name != entry.name]
    at = max(i for i, model in enumerate(models) if model.name == host.name or
             (model.device is not None and model.name.startswith(f"{host.name} @ ")))
    report.models = [*models[: at + 1], entry, *models[at + 1:]]
