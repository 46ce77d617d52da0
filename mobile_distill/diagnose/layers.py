"""Per-layer comparison of a quantized artifact with an fp32 export of its reference to the same
format: the first tensor where the artifact leaves the float model, and which quantized nodes add
the most error. ``compare_layers`` picks the target's comparison; ONNX's is here, TFLite's in
``layers_tflite``, ExecuTorch's (on the PT2E simulation: the XNNPACK delegate is opaque) in
``layers_executorch``. Each ranks nodes under the names its exporter's ``keep_float`` takes.

ONNX:

Why tensor names can be matched: the fp32 twin is made by the same exporter from the same
checkpoint, and onnxruntime's quantizers keep the activation names of the float graph
(measured here on BERT, onnxruntime 1.32):
- ``quantize_dynamic`` replaces ``MatMul`` X by DynamicQuantizeLinear -> MatMulInteger -> Cast ->
  Mul nodes named ``X_quant*``, the last of which still writes X's output tensor; quantized
  Gathers write their old output through a DequantizeLinear; a ``Gemm`` becomes a quantized
  MatMul plus an Add (``..._Add``) that writes the old output.
- ``quantize_static`` (QDQ) keeps each node and its output, and feeds it from new
  ``*_DequantizeLinear_Output`` tensors.
Initializers and folded constants disappear; activations stay. A node of the float graph counts
as quantized when the artifact computes its output through a quantization op (walking back
through tensors the float graph does not have). Its name is the name in the float graph, which
is what ``quantize_dynamic(..., nodes_to_exclude=[...])`` takes.

Intermediate tensors are exposed by adding them as graph outputs of in-memory copies of both
models; texts run one at a time, unpadded, so memory stays at one text's activations.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..export.artifact import read_manifest
from ..models import check_model_folder, load_tokenizer
from .context import Probe
from .report import Cause, Outcome, clear, found, skipped

# Relative L2 error that counts as diverged. Measured here: 0.01-0.05 in the tensors of tiny
# int8 BERTs, up to ~0.12 in a real 3-layer DistilBERT student whose int8 agreement is 0.98-0.99
# (layer 0's FFN), 1.0 at a layer whose per-tensor int8 weights round to zero.
DIVERGED = 0.3
LAYER_TEXTS = 16
LAYER_TARGETS = ("onnx", "tflite", "executorch")  # the targets whose quantized layers can be compared and kept float
QUANT_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
    "QLinearMatMul", "QLinearConv", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QGemm", "QAttention",
    "QLinearAdd", "QLinearMul", "QEmbedLayerNormalization", "MatMulNBits",
})


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


def compare_layers(artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None = None,
                   threshold: float = DIVERGED) -> LayerComparison:
    """The per-layer comparison of the artifact's target (see ``LAYER_TARGETS``)."""
    target = read_manifest(Path(artifact_dir)).target
    if target == "onnx":
        return compare_onnx_layers(artifact_dir, reference_dir, texts, threads, threshold)
    if target == "tflite":
        from .layers_tflite import compare_tflite_layers

        return compare_tflite_layers(artifact_dir, reference_dir, texts, threads, threshold)
    if target == "executorch":
        from .layers_executorch import compare_executorch_layers

        return compare_executorch_layers(artifact_dir, reference_dir, texts, threads, threshold)
    raise ConfigError(f"{artifact_dir}: per-layer comparison is implemented for {', '.join(LAYER_TARGETS)} "
                      f"artifacts (this is {target})")


def compare_onnx_layers(artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None = None,
                        threshold: float = DIVERGED) -> LayerComparison:
    import onnx

    manifest = checked_inputs(artifact_dir, reference_dir, texts)
    artifact = onnx.load(str(Path(artifact_dir) / manifest.model_file))
    with tempfile.TemporaryDirectory(prefix="mobile-distill-layers-") as scratch:
        reference = onnx.load(str(float_twin(Path(reference_dir), "onnx", manifest.sequence_length, texts, Path(scratch))))
    pairs = _pairs(reference.graph, artifact.graph)
    errors = _relative_errors(artifact, reference, pairs, _feeds(reference_dir, texts, manifest.sequence_length), threads)
    producers = {out: node for node in reference.graph.node for out in node.output}
    tensors = [TensorError(ours, producers[theirs].name, producers[theirs].op_type, errors[ours])
               for ours, theirs in pairs if ours in errors]
    return LayerComparison(tensors, _rank(reference.graph, artifact.graph, errors, dict(pairs)), threshold)


def checked_inputs(artifact_dir: Path, reference_dir: Path, texts: list[str]):
    """The artifact's manifest, once the texts and the reference folder are known to be usable."""
    manifest = read_manifest(Path(artifact_dir))
    if not texts:
        raise ConfigError(f"layer comparison of {artifact_dir}: no texts given")
    check_model_folder(Path(reference_dir))
    return manifest


def float_twin(reference_dir: Path, target: str, seq_len: int, texts: list[str], scratch: Path) -> Path:
    """The model file of an fp32 export of the reference to ``target``: what the artifact is compared with."""
    from ..export import ExportOptions, export

    folder = export(reference_dir, target, "fp32", scratch / "fp32", ExportOptions(seq_len=seq_len),
                    texts=list(texts[:16]), golden_texts=list(texts[:16]))
    return folder / read_manifest(folder).model_file


def relative_error(square_error: float, square_norm: float) -> float:
    """sqrt(sum of squared errors / sum of squared float values); NaN (a non-finite artifact) counts as inf."""
    value = np.sqrt(square_error / square_norm) if square_norm > 0 else (0.0 if square_error == 0 else 1.0)
    return float(np.nan_to_num(value, nan=np.inf))


def _pairs(reference, artifact) -> list[tuple[str, str]]:
    """(artifact tensor, float tensor) pairs in the float graph's topological order: every shared
    activation, then its dequantized copy where the artifact quantizes it (QDQ), so the error a
    node's output quantization adds is seen at the node rather than at its consumers."""
    produced = {out: node for node in artifact.node for out in node.output}
    dequantized = {}
    for node in artifact.node:
        source = produced.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if source is not None and source.op_type == "QuantizeLinear":
            dequantized.setdefault(source.input[0], node.output[0])
    pairs = []
    for node in reference.node:
        for out in node.output:
            if out in produced:
                pairs.append((out, out))
            if dequantized.get(out, out) != out:
                pairs.append((dequantized[out], out))
    return pairs


def _feeds(reference_dir: Path, texts: list[str], seq_len: int) -> list[dict[str, np.ndarray]]:
    """One text per feed, unpadded, tokenized by the reference's tokenizer."""
    tokenizer = load_tokenizer(Path(reference_dir))
    feeds = []
    for text in texts[:LAYER_TEXTS]:
        encoded = tokenizer([text], truncation=True, max_length=seq_len, return_token_type_ids=True, return_tensors="np")
        feeds.append({name: np.asarray(value) for name, value in encoded.items()})
    return feeds


def _session(model, outputs: list[str], threads: int | None):
    import onnx
    import onnxruntime

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {value.name for value in copy.graph.output}
    copy.graph.output.extend(onnx.ValueInfoProto(name=name) for name in dict.fromkeys(outputs) if name not in present)
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(copy.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run(session, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    types = {value.name: value.type for value in session.get_inputs()}
    cast = {name: feed[name].astype(np.int32 if types[name] == "tensor(int32)" else np.int64) for name in types}
    names = [value.name for value in session.get_outputs()]
    return dict(zip(names, session.run(names, cast)))


def _relative_errors(artifact, reference, pairs: list[tuple[str, str]], feeds, threads) -> dict[str, float]:
    """||artifact - float|| / ||float|| per artifact tensor, summed over the feeds."""
    ours_session = _session(artifact, [ours for ours, _ in pairs], threads)
    theirs_session = _session(reference, [theirs for _, theirs in pairs], threads)
    square_error = {ours: 0.0 for ours, _ in pairs}
    square_norm = dict.fromkeys(square_error, 0.0)
    for feed in feeds:
        ours_values, theirs_values = _run(ours_session, feed), _run(theirs_session, feed)
        for ours, theirs in pairs:
            if ours not in square_error:
                continue
            a, b = ours_values[ours], theirs_values[theirs]
            if not np.issubdtype(b.dtype, np.floating) or a.shape != b.shape:
                del square_error[ours]  # shapes and indices are not numeric activations
                continue
            b = b.astype(np.float64)
            square_error[ours] += float(np.sum((a.astype(np.float64) - b) ** 2))
            square_norm[ours] += float(np.sum(b ** 2))
    return {name: relative_error(error, square_norm[name]) for name, error in square_error.items()}


def _rank(reference, artifact, errors: dict[str, float], pairs: dict[str, str]) -> list[NodeSensitivity]:
    """Quantized nodes by the error they add: at their output (or its dequantized copy, whichever
    is worse) minus the worst of their float inputs."""
    producers = {out: node for node in artifact.node for out in node.output}
    float_tensors = {out for node in reference.node for out in node.output} | {v.name for v in reference.input}
    copies: dict[str, list[str]] = {}
    for ours, theirs in pairs.items():
        if ours in errors:
            copies.setdefault(theirs, []).append(ours)
    quantizable = _quantizable_ops(artifact)
    ranked = []
    for node in reference.node:
        out = next((name for name in node.output if name in copies), None)
        if (out is None or node.op_type not in quantizable
                or not _computed_quantized(producers.get(out), producers, float_tensors)):
            continue
        error = max(errors[name] for name in copies[out])
        upstream = max((errors[name] for name in node.input if name in errors), default=0.0)
        ranked.append(NodeSensitivity(node.name, node.op_type, module_of(node.name), out, error, error - upstream))
    return sorted(ranked, key=lambda item: -item.added_error)


def _quantizable_ops(artifact) -> set[str]:
    """The op types onnxruntime's quantizer of this artifact's kind handles (its registries)."""
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry

    dynamic = any(node.op_type in ("DynamicQuantizeLinear", "MatMulInteger", "MatMulIntegerToFloat",
                                   "DynamicQuantizeMatMul") for node in artifact.node)
    return set(IntegerOpsRegistry if dynamic else QDQRegistry)


def _computed_quantized(node, producers, float_tensors: set[str]) -> bool:
    """Does the artifact compute this tensor through a quantization op? Walks back through the
    tensors the quantizer introduced, stopping at tensors the float graph also has."""
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if current.op_type in QUANT_OPS:
            return True
        stack.extend(producers.get(name) for name in current.input if name and name not in float_tensors)
    return False


def module_of(node: str) -> str:
    """'/model/bert/encoder/layer.0/intermediate/dense/MatMul' -> 'bert.encoder.layer.0.intermediate.dense'.

    The TorchScript exporter scopes node names by module path; ``model`` is the export wrapper's
    attribute holding the Hugging Face model.
    """
    if not node.startswith("/"):
        return ""
    parts = node.strip("/").split("/")[:-1]
    return ".".join(parts[1:] if parts[:1] == ["model"] else parts)


def check_layers(probe: Probe) -> Outcome:
    manifest = probe.manifest
    if manifest.target not in LAYER_TARGETS:
        return skipped(f"per-layer comparison is implemented for {', '.join(LAYER_TARGETS)} (this is {manifest.target})")
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
        blame = f"; the quantized node adding the most is {_short(top[0])} (+{top[0].added_error:.3f})" if top else ""
        return clear(f"no tensor's relative error exceeds {comparison.threshold} (largest {worst.error:.3f} at "
                     f"{_clip(worst.tensor)}, of {len(comparison.tensors)} compared){blame}", detail)
    return found(Cause("quantization-layer", _summary(comparison), detail), detail=detail)


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
