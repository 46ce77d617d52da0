"""Per-layer comparison of a quantized ONNX artifact with an fp32 ONNX export of its reference, both
run in onnxruntime.

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
from pathlib import Path

import numpy as np

from ...diagnose.trace import text_feeds
from ...models import load_tokenizer
from .target import TARGET
from ...diagnose.layers import (
    DIVERGED,
    LAYER_TEXTS,
    LayerComparison,
    NodeSensitivity,
    TensorError,
    checked_inputs,
    float_twin,
    relative_error,
)

QUANT_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
    "QLinearMatMul", "QLinearConv", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QGemm", "QAttention",
    "QLinearAdd", "QLinearMul", "QEmbedLayerNormalization", "MatMulNBits",
})


def compare_onnx_layers(artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None = None,
                        threshold: float = DIVERGED) -> LayerComparison:
    import onnx

    manifest = checked_inputs(artifact_dir, reference_dir, texts)
    artifact = onnx.load(str(Path(artifact_dir) / manifest.model_file))
    with tempfile.TemporaryDirectory(prefix="mobile-distill-layers-") as scratch:
        # the twin in the artifact's own form, so the node and tensor names match (an artifact from before
        # the fused graph, with no graph record, is plain)
        form = (manifest.graph or {}).get("form", "plain")
        reference = onnx.load(str(float_twin(Path(reference_dir), TARGET.name, manifest.sequence_length, texts,
                                             Path(scratch), onnx_graph=form)))
    pairs = _pairs(reference.graph, artifact.graph)
    feeds = _feeds(reference_dir, texts, manifest.sequence_length, manifest.static_shapes)
    errors = _relative_errors(artifact, reference, pairs, feeds, threads)
    producers = {out: node for node in reference.graph.node for out in node.output}
    tensors = [TensorError(ours, producers[theirs].name, producers[theirs].op_type, errors[ours])
               for ours, theirs in pairs if ours in errors]
    return LayerComparison(tensors, _rank(reference.graph, artifact.graph, errors, dict(pairs)), threshold)


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


def _feeds(reference_dir: Path, texts: list[str], seq_len: int, static: bool) -> list[dict[str, np.ndarray]]:
    """One text per feed, tokenized by the reference's tokenizer: unpadded, or padded to ``seq_len``
    where the file takes exactly that length (``static``)."""
    return text_feeds(load_tokenizer(Path(reference_dir)), texts[:LAYER_TEXTS], seq_len, static,
                      ["input_ids", "attention_mask", "token_type_ids"])


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
    dynamic = _is_dynamic(artifact)
    quantizable = _quantizable_ops(dynamic)
    ranked = []
    for node in reference.node:
        out = next((name for name in node.output if name in copies), None)
        if (out is None or node.op_type not in quantizable
                or not _computed_quantized(producers.get(out), producers, float_tensors)):
            continue
        error = max(errors[name] for name in copies[out])
        upstream = max((errors[name] for name in node.input if name in errors), default=0.0)
        ranked.append(NodeSensitivity(excludable_name(node, dynamic), node.op_type, module_of(node.name), out, error,
                                      error - upstream))
    return sorted(ranked, key=lambda item: -item.added_error)


def _is_dynamic(artifact) -> bool:
    return any(node.op_type in ("DynamicQuantizeLinear", "MatMulInteger", "MatMulIntegerToFloat",
                                "DynamicQuantizeMatMul") for node in artifact.node)


def _quantizable_ops(dynamic: bool) -> set[str]:
    """The op types onnxruntime's quantizer of this artifact's kind handles (its registries)."""
    from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry

    # Gemm is not in the dynamic registry, yet quantize_dynamic quantizes it: it first splits each Gemm into
    # a MatMul and an Add (see excludable_name). Left out, the pooler and the classifier went unranked and
    # auto-fallback's "every node float" attempt still ran them in int8.
    return set(IntegerOpsRegistry) | {"Gemm"} if dynamic else set(QDQRegistry)


def excludable_name(node, dynamic: bool) -> str:
    """The name ``nodes_to_exclude`` knows a float-graph node by. onnxruntime's dynamic quantizer replaces each
    Gemm by a MatMul named ``<Gemm>_MatMul`` (and an Add) before it matches names, so there a Gemm is excluded
    by that name; the static (QDQ) quantizer keeps Gemms, and every other node keeps its own name."""
    return f"{node.name}_MatMul" if dynamic and node.op_type == "Gemm" else node.name


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
