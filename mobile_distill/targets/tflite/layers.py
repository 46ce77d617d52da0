"""Per-layer comparison of a TFLite artifact with an fp32 TFLite export of its reference: the
first tensor where the artifact leaves the float model, and which quantized ops add the most error.

Both files run in the TFLite interpreter itself, with every intermediate tensor preserved
(ai-edge-quantizer's interpreter helpers, the ones its own ``validate()`` uses; XNNPACK off,
because a delegated subgraph keeps no intermediate tensors). ai-edge-quantizer's
``compare_model`` is not used directly: it averages one metric per sample, and a relative error
needs the error and the norm summed over the texts separately.

Why tensors can be matched by name: the fp32 twin is converted by the same exporter from the
same checkpoint, and ai-edge-quantizer rewrites ops in place, keeping every activation's name
(measured on BERT: an int8 FULLY_CONNECTED writes the same output tensor as the float one). An
op counts as quantized when one of its inputs is int8 (dynamic range: the weights; static: the
weights and the activation from a QUANTIZE op). Its handle is its output tensor's name, which is
what ai-edge-quantizer's recipe scopes match, so ``ExportOptions.keep_float`` takes it as is.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...diagnose.trace import text_feeds
from ...models import load_tokenizer
from .target import SIGNATURE, TARGET
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

QUANTIZED_TYPES = frozenset({3, 9, 17})  # TensorType UINT8, INT8, INT4
NOT_RANKED = frozenset({"QUANTIZE", "DEQUANTIZE"})  # they move values between types; the op they serve is ranked


@dataclass(frozen=True)
class _Op:
    op_type: str
    inputs: tuple[str, ...]  # activations only
    constants: tuple[str, ...]  # weights: named by the module that owns them, unlike joined activation scopes
    outputs: tuple[str, ...]
    quantized: bool
    fused_activation: bool = False  # it applies an activation after its own result (FULLY_CONNECTED + RELU)


def compare_tflite_layers(artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None = None,
                          threshold: float = DIVERGED) -> LayerComparison:
    manifest = checked_inputs(artifact_dir, reference_dir, texts)
    artifact = Path(artifact_dir) / manifest.model_file
    with tempfile.TemporaryDirectory(prefix="mobile-distill-layers-") as scratch:
        twin = float_twin(Path(reference_dir), TARGET.name, manifest.sequence_length, texts, Path(scratch)).read_bytes()
    ops = _ops(artifact)
    errors = _relative_errors(twin, artifact, _feeds(reference_dir, texts, manifest.sequence_length), threads)
    tensors = [TensorError(out, out, op.op_type, errors[out]) for op in ops for out in op.outputs if out in errors]
    modules = _weight_owners(twin, Path(reference_dir))
    return LayerComparison(tensors, _rank(ops, errors, modules), threshold)


def tflite_sensitivity(artifact_dir: Path, reference_dir: Path, texts: list[str],
                       threads: int | None = None) -> list[NodeSensitivity]:
    """The quantized ops of a TFLite artifact, the most error-adding first (for --auto-fallback)."""
    return compare_tflite_layers(artifact_dir, reference_dir, texts, threads).sensitivity


def _ops(path: Path, key=None) -> list[_Op]:
    """The main subgraph's ops in execution order, with tensor names (``key(index, name)``: another
    handle for each tensor; names are not unique, litert-torch gives several tensors of one scope
    the same one)."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as flatbuffer

    model = flatbuffer.read_model(Path(path))
    graph = model.subgraphs[0]  # the exporter writes one subgraph: the serving_default signature

    def constant(index: int) -> bool:
        data = model.buffers[graph.tensors[index].buffer].data
        return data is not None and len(data) > 0

    def name(index: int) -> str:
        found = flatbuffer.get_tensor_name(graph.tensors[index])
        return key(index, found) if key else found

    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex].builtinCode
        op_type = getattr(flatbuffer.TFL_OP_CODE_TO_NAME.get(code), "value", str(code))
        inputs = [i for i in op.inputs if i >= 0]
        ops.append(_Op(op_type, tuple(name(i) for i in inputs if not constant(i)), tuple(name(i) for i in inputs if constant(i)),
                       tuple(name(i) for i in op.outputs), any(graph.tensors[i].type in QUANTIZED_TYPES for i in inputs),
                       bool(getattr(op.builtinOptions, "fusedActivationFunction", 0))))
    return ops


def _feeds(reference_dir: Path, texts: list[str], seq_len: int) -> list[dict[str, np.ndarray]]:
    """Padded to the static length, as the artifact always sees text."""
    from .export import INPUT_NAMES

    feeds = text_feeds(load_tokenizer(Path(reference_dir)), texts[:LAYER_TEXTS], seq_len, True, INPUT_NAMES)
    return [{name: value.astype(np.int32) for name, value in feed.items()} for feed in feeds]


def _relative_errors(twin: bytes, artifact: Path, feeds, threads: int | None) -> dict[str, float]:
    """||artifact - float|| / ||float|| per shared activation tensor, summed over the feeds."""
    from ai_edge_quantizer.utils import tfl_interpreter_utils as interpreters

    runs = []
    for model in (twin, artifact.read_bytes()):
        interpreter = interpreters.create_tfl_interpreter(model, use_xnnpack=False, num_threads=threads or 1,
                                                          preserve_all_tensors=True)
        subgraph = interpreters.get_signature_main_subgraph_index(interpreter, SIGNATURE)
        runs.append((interpreter, subgraph, interpreters.get_tensor_name_to_details_map(interpreter, subgraph)))
    (theirs, theirs_graph, theirs_details), (ours, ours_graph, ours_details) = runs
    shared = [name for name, detail in theirs_details.items()
              if name in ours_details and np.issubdtype(detail["dtype"], np.floating)]
    square_error, square_norm = dict.fromkeys(shared, 0.0), dict.fromkeys(shared, 0.0)
    for feed in feeds:
        interpreters.invoke_interpreter_signature(theirs, feed, SIGNATURE)
        interpreters.invoke_interpreter_signature(ours, feed, SIGNATURE)
        for name in list(square_error):
            b = interpreters.get_tensor_data(theirs, theirs_details[name], theirs_graph).astype(np.float64)
            a = interpreters.get_tensor_data(ours, ours_details[name], ours_graph).astype(np.float64)
            if a.shape != b.shape:
                del square_error[name]
                continue
            square_error[name] += float(np.sum((a - b) ** 2))
            square_norm[name] += float(np.sum(b ** 2))
    return {name: relative_error(error, square_norm[name]) for name, error in square_error.items()}


def _rank(ops: list[_Op], errors: dict[str, float], owners: dict[str, str]) -> list[NodeSensitivity]:
    """Quantized ops by the error they add: at their output minus the worst of their float inputs
    (an input the twin lacks, such as a QUANTIZE op's int8 output, is traced back to one it has)."""
    producers = {out: op for op in ops for out in op.outputs}
    modules = sorted(set(owners.values()))
    ranked = []
    for op in ops:
        out = op.outputs[0] if op.outputs else None
        if not op.quantized or op.op_type in NOT_RANKED or out not in errors:
            continue
        upstream = max((_upstream_error(name, producers, errors) for name in op.inputs), default=0.0)
        module = next((owners[name] for name in op.constants if name in owners), None) or module_of(out, modules)
        ranked.append(NodeSensitivity(out, op.op_type, module, out, errors[out], errors[out] - upstream))
    return sorted(ranked, key=lambda item: -item.added_error)


def _upstream_error(name: str, producers: dict[str, _Op], errors: dict[str, float]) -> float:
    seen = set()
    stack = [name]
    found = []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in errors:
            found.append(errors[current])
        elif current in producers:
            stack.extend(producers[current].inputs)
    return max(found, default=0.0)


def _weight_owners(twin: bytes, reference_dir: Path) -> dict[str, str]:
    """Constant tensor name -> the reference module whose weight it is, by value.

    Names alone are ambiguous: litert-torch names DistilBERT's k_lin and v_lin weights after the
    attention block only, and joins scopes into the names of their outputs. Values are not:
    a weight is the module's own, or (when the converter folded the preceding LayerNorm's scale
    into it, measured on q/k/v and the FFN input of BERT and DistilBERT) the module's times one
    factor per input column. Every module path is also returned, for ``module_of``.
    """
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as flatbuffer
    from safetensors import safe_open

    with safe_open(str(reference_dir / "model.safetensors"), framework="np") as weights:
        arrays = {key.rsplit(".", 1)[0]: weights.get_tensor(key).astype(np.float32) for key in weights.keys()}
    matrices = {module: array for module, array in arrays.items() if array.ndim == 2}
    model = flatbuffer.read_model(twin)
    owners = {name: name for name in arrays}
    for tensor in model.subgraphs[0].tensors:
        data = flatbuffer.get_tensor_data(tensor, model.buffers)
        if data is None or data.ndim != 2 or data.dtype != np.float32:
            continue
        owner = next((module for module, weight in matrices.items() if _same_up_to_column_scale(data, weight)), None)
        if owner is not None:
            owners[flatbuffer.get_tensor_name(tensor)] = owner
    return owners


def _same_up_to_column_scale(folded: np.ndarray, weight: np.ndarray) -> bool:
    if folded.shape != weight.shape:
        return False
    if np.array_equal(folded, weight):
        return True
    usable = np.abs(weight) > 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.nanmedian(np.where(usable, folded / weight, np.nan), axis=0)
    return bool(np.all(np.isfinite(scale)) and np.allclose(folded, weight * scale, rtol=1e-3, atol=1e-6))


def module_of(tensor: str, modules: list[str]) -> str:
    """'.../BertLayer_0/...BertIntermediate_intermediate/torch.nn.modules.linear.Linear_dense;1' ->
    'bert.encoder.layer.0.intermediate.dense'; '' when no module of the reference matches.

    litert-torch names tensors by the module scope: '<class>_<attribute>' per level, without the
    ModuleList's own attribute ('layer'); the reference's module paths fill that gap. A tensor
    several modules wrote has their scopes joined by ';;': the last one that names a module wins.
    """
    for scope in reversed(tensor.split(";;")):
        parts = [segment.rsplit(".", 1)[-1].split(";")[0].split("_", 1)[-1] for segment in scope.split("/")]
        parts = [part for part in parts[2:] if part and part != "model"]  # _NamedIO, the export wrapper, its HF model
        matches = [module for module in modules
                   if parts and module.split(".")[-1] == parts[-1] and _subsequence(parts, module.split("."))]
        if matches:
            return min(matches, key=len)
    return ""


def _subsequence(parts: list[str], path: list[str]) -> bool:
    remaining = iter(path)
    return all(part in remaining for part in parts) and len(path) - len(parts) <= path.count("layer")
