"""Per-layer comparison of a quantized artifact with an fp32 export of its reference to the same
format: the first tensor where the artifact leaves the float model, and which quantized nodes add
the most error. Each target names its comparison in the target registry (``layer_comparison``):
each lives in its target's package (``targets/<name>/layers.py``; ExecuTorch's runs on the PT2E
simulation: the XNNPACK delegate is opaque). Each ranks nodes under the names its
exporter's ``keep_float`` takes. This module holds what they share and the diagnose check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..manifest import read_manifest
from ..models import check_model_folder
from ..targets import TARGETS
from .context import Probe
from .report import Cause, Outcome, clear, found, skipped

# Relative L2 error that counts as diverged. Measured here: 0.01-0.05 in the tensors of tiny
# int8 BERTs, up to ~0.12 in a real 3-layer DistilBERT student whose int8 agreement is 0.98-0.99
# (layer 0's FFN), 1.0 at a layer whose per-tensor int8 weights round to zero.
DIVERGED = 0.3
LAYER_TEXTS = 16


@dataclass(frozen=True)
class TensorError:
    tensor: str
    node: str
    op_type: str
    error: float  # ||artifact - float|| / ||float|| over the texts


@dataclass(frozen=True)
class NodeSensitivity:
    node: str  # name in the float graph: what onnxruntime's nodes_to_exclude takes
    op_type: str
    module: str  # the PyTorch module the node came from, when its name says so
    output: str
    error: float  # relative error at the node's output
    added_error: float  # that, minus the largest relative error at its inputs

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LayerComparison:
    tensors: list[TensorError]  # in topological order
    sensitivity: list[NodeSensitivity]  # quantized nodes, most error-adding first
    threshold: float

    @property
    def first(self) -> TensorError | None:
        """The first tensor whose error exceeds the threshold."""
        return next((tensor for tensor in self.tensors if tensor.error > self.threshold), None)


def layer_sensitivity(artifact_dir: Path, reference_dir: Path, texts: list[str],
                      threads: int | None = None) -> list[NodeSensitivity]:
    """The quantized layers of an artifact, the most error-adding first (for --auto-fallback).
    Each ``node`` is the name ``ExportOptions.keep_float`` takes for the artifact's target."""
    return compare_layers(artifact_dir, reference_dir, texts, threads).sensitivity


def compared_targets() -> list[str]:
    """The targets whose quantized layers can be compared (and so kept float by auto-fallback)."""
    return [name for name, target in TARGETS.items() if target.layer_comparison]


def compare_layers(artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None = None,
                   threshold: float = DIVERGED) -> LayerComparison:
    """The per-layer comparison the artifact's target registers (`Target.layer_comparison`)."""
    target = TARGETS.get(read_manifest(Path(artifact_dir)).target)
    if target is None or not target.layer_comparison:
        raise ConfigError(f"{artifact_dir}: per-layer comparison is implemented for {', '.join(compared_targets())} "
                          f"artifacts (this is {target.name if target else 'an unknown target'})")
    return target.load("layer_comparison")(artifact_dir, reference_dir, texts, threads, threshold)


def checked_inputs(artifact_dir: Path, reference_dir: Path, texts: list[str]):
    """The artifact's manifest, once the texts and the reference folder are known to be usable."""
    manifest = read_manifest(Path(artifact_dir))
    if not texts:
        raise ConfigError(f"layer comparison of {artifact_dir}: no texts given")
    check_model_folder(Path(reference_dir))
    return manifest


def float_twin(reference_dir: Path, target: str, seq_len: int, texts: list[str], scratch: Path, **options) -> Path:
    """The model file of an fp32 export of the reference to ``target``: what the artifact is compared with.
    ``options``: export options the twin must share with the artifact (ONNX: the graph's form)."""
    from ..export import ExportOptions, export

    folder = export(reference_dir, target, "fp32", scratch / "fp32", ExportOptions(seq_len=seq_len, **options),
                    texts=list(texts[:16]), golden_texts=list(texts[:16]))
    return folder / read_manifest(folder).model_file


def relative_error(square_error: float, square_norm: float) -> float:
    """sqrt(sum of squared errors / sum of squared float values); NaN (a non-finite artifact) counts as inf."""
    value = np.sqrt(square_error / square_norm) if square_norm > 0 else (0.0 if square_error == 0 else 1.0)
    return float(np.nan_to_num(value, nan=np.inf))


def check_layers(probe: Probe) -> Outcome:
    manifest = probe.manifest
    if manifest.target not in compared_targets():
        return skipped(f"per-layer comparison is implemented for {', '.join(compared_targets())} "
                       f"(this is {manifest.target})")
    if not manifest.precision.startswith("int8"):
        return skipped(f"the artifact is not quantized ({manifest.precision})")
    comparison = compare_layers(probe.artifact_dir, probe.reference_dir, probe.sample, probe.threads)
    top = comparison.sensitivity[:5]
    detail = {"threshold": comparison.threshold, "tensors_compared": len(comparison.tensors),
              "quantized_nodes": len(comparison.sensitivity), "ranking": [item.to_dict() for item in top],
              "first_diverging": asdict(comparison.first) if comparison.first else None}
    if not comparison.tensors:
        return skipped("the artifact shares no tensor names with an fp32 export of the reference")
    if comparison.first is None:
        worst = max(comparison.tensors, key=lambda t: t.error)
        spread = (f"no tensor's relative error exceeds {comparison.threshold} (largest {worst.error:.3f} at "
                  f"{_clip(worst.tensor)}, of {len(comparison.tensors)} compared)")
        blame = f"; the quantized node adding the most is {_short(top[0])} (+{top[0].added_error:.3f})" if top else ""
        below = _below_the_floor(probe)
        if below is None or not top:
            return clear(spread + blame, detail)
        # Nothing upstream of the numbers was wrong (those checks run first), no layer breaks, and still
        # the predictions moved past the gate: int8 error accumulated over many layers. Name where most
        # of it is added, in the names keep_float takes, since that is what repairs it.
        nodes = ", ".join(f"{_short(item)} (+{item.added_error:.3f})" for item in top[:3])
        summary = (f"int8 error spread over the layers: {below}, yet {spread}; the quantized nodes adding the most "
                   f"error are {nodes}: keep them in float (bench --auto-fallback) or use another int8 scheme")
        return found(Cause("quantization-layer", summary, detail), detail=detail)
    return found(Cause("quantization-layer", _summary(comparison), detail), detail=detail)


def _below_the_floor(probe: Probe) -> str | None:
    """"agreement 0.977 < gate 2's 0.98 for int8-dynamic" when the artifact as delivered is below its
    precision's gate 2 floor on the texts given, else None."""
    from ..metrics import agreement
    from ..precisions import PRECISIONS

    precision = PRECISIONS.get(probe.manifest.precision)
    if probe.delivered is None or precision is None:
        return None
    rate = agreement(probe.delivered, probe.full_reference)
    if rate >= precision.min_agreement:
        return None
    return f"agreement {rate:.4f} < gate 2's {precision.min_agreement} for {precision.name}"


def _summary(comparison: LayerComparison) -> str:
    first, ranking = comparison.first, comparison.sensitivity
    worst = ranking[0] if ranking else None
    if worst is not None and worst.output == first.tensor:
        upstream = worst.error - worst.added_error
        nxt = f" (next: {_short(ranking[1])} +{ranking[1].added_error:.2f})" if len(ranking) > 1 else ""
        return (f"int8 quantization breaks at {_label(worst)}: relative error {worst.error:.2f} at its "
                f"output vs {upstream:.2f} at its input, the most error added by any of the {len(ranking)} "
                f"quantized nodes{nxt}")
    blame = (f"; the quantized node adding the most error is {_short(worst)} (+{worst.added_error:.2f})"
             if worst is not None else "")
    return (f"the artifact first diverges from its fp32 twin at tensor '{_clip(first.tensor)}' (node "
            f"'{_clip(first.node)}', {first.op_type}): relative error {first.error:.2f} > {comparison.threshold}{blame}")


# TFLite's handles are whole module-scope paths (hundreds of characters): a summary names the
# module instead, and the detail's ranking keeps the full handle that keep_float takes.
LONG_NAME = 120


def _label(item: NodeSensitivity) -> str:
    if len(item.node) > LONG_NAME and item.module:
        return f"module {item.module} ({item.op_type})"
    return f"node '{item.node}' ({item.op_type}{', module ' + item.module if item.module else ''})"


def _short(item: NodeSensitivity) -> str:
    return item.module if len(item.node) > LONG_NAME and item.module else f"'{_clip(item.node)}'"


def _clip(name: str) -> str:
    return name if len(name) <= LONG_NAME else "..." + name[-LONG_NAME:]
