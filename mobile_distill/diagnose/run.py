"""Running diagnose's checks on one artifact (the checks and the causes are in the package docstring)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..hashing import folder_hash
from ..metrics import agreement
from .binding import check_binding, check_mask, check_token_types
from .context import Probe
from .contract import check_labels, check_manifest
from .departure import check_departure, check_non_finite
from .integrity import check_file
from .ids import check_id_dtype, check_id_range
from .layers import (
    LayerComparison,
    NodeSensitivity,
    TensorError,
    check_layers,
    compare_layers,
    layer_sensitivity,
)
from .numeric import check_fp16
from .report import CODES, Cause, Check, Diagnosis, Outcome, crashed, plain, rank
from .weights import check_weights
from .tokenizer import check_padding_length, check_tokenizer

# Check name -> function, upstream first (the order the report lists them in).
CHECKS: dict[str, Callable[[Probe], Outcome]] = {
    "file": check_file,
    "labels": check_labels,
    "manifest": check_manifest,
    "input-binding": check_binding,
    "id-dtype": check_id_dtype,
    "id-range": check_id_range,
    "attention-mask": check_mask,
    "token-types": check_token_types,
    "tokenizer": check_tokenizer,
    "padding-length": check_padding_length,
    "fp16-overflow": check_fp16,
    "layers": check_layers,
    "non-finite": check_non_finite,
    "departure": check_departure,
    "weights": check_weights,
}


def diagnose(artifact_dir: Path, reference_dir: Path, texts: list[str], labels: list[int] | None = None,
             threads: int | None = None) -> Diagnosis:
    """Run every check on ``artifact_dir`` against the reference model at ``reference_dir``.

    ``texts``: the texts the gate used (each check caps how many it runs); ``labels``: their
    gold labels, for the accuracies in the report. Bad input (not an artifact folder, not a
    model folder, no texts) raises ModelError / ConfigError with a one-line message.
    """
    if labels is not None and len(labels) != len(texts):
        raise ConfigError(f"diagnose {artifact_dir}: {len(labels)} labels for {len(texts)} texts; give one per text")
    probe = Probe(Path(artifact_dir), Path(reference_dir), list(texts), threads)
    checks, causes = [], []
    for name, function in CHECKS.items():
        check, found_causes = _run_check(name, function, probe)
        checks.append(check)
        causes.extend(found_causes)
    delivered = probe.delivered
    return Diagnosis(
        artifact=str(probe.artifact_dir), reference=str(probe.reference_dir), target=probe.manifest.target,
        precision=probe.manifest.precision, texts=len(probe.texts),
        agreement=agreement(delivered, probe.full_reference) if delivered is not None else None,
        causes=rank(causes), checks=checks, accuracy=_accuracy(probe, labels), notes=_notes(probe),
    )


def _run_check(name: str, function, probe: Probe) -> tuple[Check, list[Cause]]:
    start = time.perf_counter()
    try:
        outcome = function(probe)
    except Exception as error:  # one broken check must not hide what the others found, nor pass as "skipped"
        outcome = crashed(error)
    seconds = round(time.perf_counter() - start, 3)
    causes = [replace(cause, detail=plain(cause.detail)) for cause in outcome.causes]
    return Check(name, outcome.status, outcome.summary, plain(outcome.detail), seconds), causes


def _accuracy(probe: Probe, labels) -> dict:
    if labels is None:
        return {}
    gold = np.asarray(labels)
    result = {"reference": float(np.mean(probe.full_reference.argmax(-1) == gold))}
    if probe.delivered is not None:
        result["artifact"] = float(np.mean(probe.delivered.argmax(-1) == gold))
    return result


def _notes(probe: Probe) -> list[str]:
    notes = []
    if probe.unavailable:
        notes.append(f"the artifact cannot be run here: {probe.unavailable}")
    source, given = probe.manifest.source.get("hash"), folder_hash(probe.reference_dir)
    if source and source != given:  # then every check compares with a different model
        notes.append(f"{probe.reference_dir} is not the checkpoint the artifact was exported from "
                     f"(hash {given}, the manifest says {source})")
    return notes


__all__ = ["CHECKS", "CODES", "Cause", "Check", "Diagnosis", "LayerComparison", "NodeSensitivity", "TensorError",
           "compare_layers", "diagnose", "layer_sensitivity"]
