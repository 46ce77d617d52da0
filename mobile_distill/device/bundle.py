"""`mobile-distill app-bundle`: what the Android demo needs, copied into its assets folder.

    ASSETS/bundle.json        the index: each artifact's folder, target, precision, model file and its
                              SHA-256 (the app refuses a file whose hash differs; the results carry it
                              back so the gate can tell which export the phone ran)
    ASSETS/test_sample.json   labelled test texts with the PyTorch reference's prediction for each:
                              the phone's accuracy and agreement are computed on exactly these
    ASSETS/<artifact>/        model file, manifest.json, vocab.txt, labels.txt, tokenizer files,
                              tokenizer_golden.json

The app runs .tflite (LiteRT) and .onnx (ONNX Runtime Android) files. A bundle holds the artifacts
of one student, so that one set of reference predictions serves them all.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import ui
from ..atomic import atomic_folder, write_json
from ..errors import ConfigError
from ..manifest import read_manifest
from ..hashing import file_sha256
from ..layout import (
    GOLDEN,
    LABELS_TXT,
    MANIFEST,
    TOKENIZER_CONFIG,
    TOKENIZER_JSON,
    VOCAB_TXT,
)
from ..metrics import predictions
from ..targets import TARGETS

BUNDLE_INDEX = "bundle.json"
TEST_SAMPLE = "test_sample.json"
BUNDLE_KIND = "mobile-distill-app-bundle"
SAMPLE_KIND = "mobile-distill-test-sample"
APP_TARGETS = {name: target.android_runtime for name, target in TARGETS.items() if target.android_runtime}
_APP_FILES = (MANIFEST, VOCAB_TXT, LABELS_TXT, TOKENIZER_JSON, TOKENIZER_CONFIG, GOLDEN)


@dataclass(frozen=True)
class Sample:
    texts: list[str]
    labels: list[int]  # the model's logit indices
    label_names: list[str]
    source: dict


def check_artifacts(artifacts: list[Path]) -> list:
    """The manifests, after checking the app can run every artifact and they share one student."""
    manifests = [read_manifest(folder) for folder in artifacts]
    for folder, manifest in zip(artifacts, manifests):
        if manifest.target not in APP_TARGETS:
            raise ConfigError(f"{folder}: a {manifest.target} artifact; the Android demo runs "
                              f"{', '.join(f'{t} ({r})' for t, r in APP_TARGETS.items())} artifacts")
        if not (folder / VOCAB_TXT).is_file():
            raise ConfigError(f"{folder}: no {VOCAB_TXT}; the app's tokenizer is WordPiece and reads it: re-export")
    students = {manifest.source.get("hash") for manifest in manifests}
    if len(students) > 1:
        raise ConfigError("the artifacts come from different students (" + ", ".join(
            f"{folder.name}: {manifest.source.get('path')}" for folder, manifest in zip(artifacts, manifests)) +
            "); bundle one student's artifacts at a time")
    names = [folder.name for folder in artifacts]
    if len(set(names)) < len(names):
        raise ConfigError(f"two artifacts share a folder name ({', '.join(names)}); the app tells them apart by it")
    return manifests


def choose_sample(texts: list[str], labels: list[int], size: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``size`` rows of the test split, drawn without replacement, kept in split order."""
    if size >= len(texts):
        return list(texts), list(labels)
    chosen = np.sort(np.random.default_rng(seed).choice(len(texts), size, replace=False))
    return [texts[i] for i in chosen], [int(labels[i]) for i in chosen]


def test_sample(data, reference: Path, size: int) -> Sample:
    """``size`` rows of a prepared data set's test split, labelled in the reference model's label order."""
    from ..bench.sources import labels_as_model_indices
    from ..models import read_labels

    if size < 1:
        raise ConfigError(f"sample_size {size}: give at least 1 text", fields=("sample_size",))
    test, names = data.splits["test"], list(read_labels(reference))
    labels, _ = labels_as_model_indices(list(data.labels), names, np.asarray(test["label"]))
    texts, labels = choose_sample(list(test["text"]), labels.tolist(), size)
    source = {"source": data.info.get("source"), "split": "test", "fingerprint": data.info.get("fingerprint")}
    return Sample(texts, labels, names, source)


def app_bundle(artifacts: list[Path], output: Path, sample: Sample, reference: Path) -> Path:
    """Write the bundle for ``artifacts`` to ``output`` (the app's assets folder); returns bundle.json.

    Artifact folders are written atomically and bundle.json last, so an interrupted run leaves no
    index pointing at half-copied files. Folders a previous bundle listed and this one does not are
    removed; nothing else in ``output`` is touched.
    """
    from ..runners import load_runner

    manifests = check_artifacts(artifacts)
    output.mkdir(parents=True, exist_ok=True)
    seq_len = max(manifest.sequence_length for manifest in manifests)
    with ui.stage("app-bundle", f"{len(artifacts)} artifact(s) and {len(sample.texts)} test texts for the "
                  "Android demo") as stage:
        reference_logits = load_runner(reference, seq_len=seq_len).predict(sample.texts)
        reference_predicted = predictions(reference_logits)
        entries = [_copy_artifact(folder, manifest, output) for folder, manifest in zip(artifacts, manifests)]
        accuracy = float(np.mean(reference_predicted == np.asarray(sample.labels))) if sample.labels else 0.0
        write_json(output / TEST_SAMPLE, {
            "kind": SAMPLE_KIND, "version": 1, "labels": sample.label_names, "source": sample.source,
            "reference": {"path": str(reference), "hash": manifests[0].source.get("hash"), "accuracy": accuracy},
            "rows": [{"text": text, "label": int(label), "reference": int(predicted)}
                     for text, label, predicted in zip(sample.texts, sample.labels, reference_predicted)]})
        _remove_stale(output, {entry["folder"] for entry in entries})
        write_json(output / BUNDLE_INDEX, {
            "kind": BUNDLE_KIND, "version": 1, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sample": TEST_SAMPLE, "sample_sha256": file_sha256(output / TEST_SAMPLE), "artifacts": entries})
        stage.summary = (f"{output}: {', '.join(entry['name'] for entry in entries)}; reference accuracy "
                         f"{accuracy:.4f} on the {len(sample.texts)} sample texts")
    return output / BUNDLE_INDEX


def _copy_artifact(folder: Path, manifest, output: Path) -> dict:
    with atomic_folder(output / folder.name) as staging:
        for name in (manifest.model_file, *_APP_FILES):
            if (folder / name).is_file():
                shutil.copy2(folder / name, staging / name)
    model = output / folder.name / manifest.model_file
    return {"name": folder.name, "folder": folder.name, "target": manifest.target, "precision": manifest.precision,
            "model_file": manifest.model_file, "model_sha256": file_sha256(model), "size_bytes": model.stat().st_size,
            "sequence_length": manifest.sequence_length}


def _remove_stale(output: Path, keep: set[str]) -> None:
    index = output / BUNDLE_INDEX
    if not index.is_file():
        return
    try:
        listed = [entry.get("folder") for entry in json.loads(index.read_text()).get("artifacts", [])]
    except (ValueError, AttributeError):
        return  # not ours to interpret: leave it, it is overwritten next
    for name in listed:
        if name and name not in keep and "/" not in name and (output / name / MANIFEST).is_file():
            shutil.rmtree(output / name)
