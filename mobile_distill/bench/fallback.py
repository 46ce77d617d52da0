"""Accuracy-aware quantization fallback (``--auto-fallback``).

When an int8 artifact of a target with a per-layer comparison (ONNX, TFLite, ExecuTorch: the
targets whose registry entry has a ``layer_comparison``) fails gate 2, rank its quantized layers by the error each adds
(diagnose.layer_sensitivity, a per-layer comparison with a float twin in the same runtime), keep
the top 1, 2, 4, ... in float (``ExportOptions.keep_float``, in the target's own names), re-export from the same checkpoint with the same options, and judge each attempt with
the same gate, until one passes or every quantized node is float. The passing attempt joins the
bench as ``<name>-fallback`` (speed and memory measured like any artifact), so its size and
latency cost sits beside the failed original in the report.

Why doubling: each attempt is a full export plus an accuracy pass; doubling finds the needed
count in log2(nodes) attempts, at the price of keeping up to twice as many nodes float as the
minimum.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import ExportOptions
from ..errors import MobileDistillError
from ..manifest import read_manifest
from ..targets import TARGETS
from .schema import ModelEntry

SENSITIVITY_TEXTS = 32  # per-layer comparison runs text by text: a few dozen rank the nodes stably


def can_fall_back(entry: ModelEntry) -> bool:
    target = TARGETS.get(entry.target)
    return (entry.role == "artifact" and target is not None and target.supports_fallback
            and entry.precision.startswith("int8")
            and entry.status == "ran" and entry.verdict is not None and entry.verdict.status == "FAIL")


def fall_back(entry: ModelEntry, judge, texts: list[str], calibration_texts: list[str]) -> tuple[ModelEntry | None, dict]:
    """Re-quantize ``entry``'s artifact with its most sensitive nodes in float until ``judge`` passes it.

    ``judge(folder) -> ModelEntry`` benches one artifact folder (contract, accuracy, verdict).
    Returns the passing entry (or None) and the record of every attempt for the report.
    """
    from ..diagnose import layer_sensitivity
    from ..export import export

    folder = Path(entry.path)
    manifest = read_manifest(folder)
    source = Path(manifest.source["path"])
    ranking = layer_sensitivity(folder, source, texts[:SENSITIVITY_TEXTS])
    nodes = [item.node for item in ranking]
    options = ExportOptions(**(manifest.options or {"seq_len": manifest.sequence_length}))
    record = {"ranking": [item.to_dict() for item in ranking[:10]], "attempts": [], "kept_float": None,
              "artifact": None}
    out = folder.with_name(f"{folder.name}-fallback")
    for count in _schedule(len(nodes)):
        keep = tuple(nodes[:count])
        try:
            export(source, manifest.target, manifest.precision, out, options.model_copy(update={"keep_float": keep}),
                   calibration_texts, texts)
        except Exception as error:  # noqa: BLE001 - a converter's own crash must not lose the whole bench report
            message = str(error) if isinstance(error, MobileDistillError) else \
                f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
            record["attempts"].append({"kept_float": len(keep), "error": message})
            break
        attempt = judge(out)
        accuracy = attempt.scores
        record["attempts"].append({"kept_float": len(keep), "verdict": attempt.verdict.status,
                                   "agreement": accuracy.agreement_reference if accuracy else None,
                                   "accuracy": accuracy.accuracy if accuracy else None})
        if attempt.verdict.status == "PASS":
            record.update(kept_float=list(keep), artifact=attempt.name)
            attempt.name = out.name
            return attempt, record
    return None, record


def _schedule(count: int) -> list[int]:
    """1, 2, 4, ... and finally every node."""
    steps = [2 ** i for i in range(int(np.log2(count)) + 1)] if count else []
    return [step for step in steps if step < count] + ([count] if count else [])


def note(record: dict, original: ModelEntry, replacement: ModelEntry | None) -> str:
    if replacement is None:
        return f"auto-fallback: no attempt passed ({len(record['attempts'])} tried, up to every quantized node in float)"
    kept = record["kept_float"]
    modules = {item["node"]: item["module"] for item in record["ranking"]}
    shown = [modules.get(name) or name for name in kept[:4]]  # TFLite's handles are whole scope paths
    return (f"auto-fallback: {replacement.name} passes with {len(kept)} node(s) in float "
            f"({', '.join(shown)}{', ...' if len(kept) > 4 else ''}); "
            f"size {original.size_bytes / 1e6:.1f} -> {replacement.size_bytes / 1e6:.1f} MB")
