"""ONNX export (torch.onnx, TorchScript exporter), onnxruntime's transformer optimizer, and onnxruntime's
own fp16 and int8 tools.

The TorchScript-based exporter (``dynamo=False``) is used because it gives dynamic batch and
sequence axes on BERT with named inputs in one call; its output matched PyTorch to ~1e-8 here.
fp32 and fp16 files are the fused graph where the optimizer supports the student (`fusion.py`), int8 ones
the plain graph (faster, measured: config.QuantizationOptions.onnx_graph), and any of them plain or fused when
asked (``onnx_graph: plain`` for runtimes without onnxruntime's contrib operators); the manifest's ``graph``
says which and lists the operator sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import ConfigError, ModelError
from ...families import family
from .fusion import export_fused, operator_sets
from .target import TARGET
from ...manifest import TensorSpec
from ...export.context import ExportContext, ExportedModel

OPSET = 17
_STATIC_OPS = ("MatMul", "Gemm", "Gather")
_FILE = TARGET.model_file


def export_onnx(context: ExportContext, folder: Path) -> ExportedModel:
    # A padding-sensitive model (MobileBERT) gives the logits it was trained and checked for only when
    # padded to the full length, so its file takes exactly that length: the contract then says so. So does
    # a model whose export is written out one step per position (the BiLSTM student).
    model = context.wrapper.model
    fixed_length = family(model).padding_sensitive or getattr(model, "export_unrolls_sequence", False)
    path = folder / _FILE
    graph = _export_graph(context, path, fixed_length)
    fused = graph["form"] == "fused"
    quantization: dict = {"scheme": "none"}
    if context.precision == "fp16":
        quantization = _to_fp16(path, context.options.keep_float, fused)
    elif context.precision == "int8-dynamic":
        quantization = _quantize_dynamic(context, path, fused)
    elif context.precision == "int8-static":
        quantization = _quantize_static(context, path)
    _check_loads(path, context.precision, graph["form"])
    sequence = context.options.seq_len if fixed_length else "sequence"
    inputs = tuple(TensorSpec(name=name, dtype="int64", shape=("batch", sequence)) for name in context.input_names)
    return ExportedModel(
        model_file=_FILE,
        inputs=inputs,
        output=TensorSpec(name="logits", dtype="float32", shape=("batch", len(context.labels))),
        static_shapes=fixed_length,
        quantization=quantization,
        graph={**graph, **operator_sets(path)},
    )


def _check_loads(path: Path, precision: str, form: str) -> None:
    """An export whose file onnxruntime refuses is a failed export (the atomic folder then leaves nothing),
    not an artifact that fails later in bench or on a phone: a converter's mixed-type graph once got through."""
    import onnxruntime as ort

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
        first = str(error).splitlines()[0][:300]
        hint = "; --onnx-graph plain exports the unfused graph" if form == "fused" else ""
        raise ModelError(f"onnx {precision} export wrote a {form} graph onnxruntime cannot load ({first}){hint}") from None


def _export_graph(context: ExportContext, path: Path, fixed_length: bool) -> dict:
    """The fp32 graph at ``path``: fused where it can be and is wanted, else plain; returns how it was made."""
    sample = context.sample_inputs(torch.int64)
    axes = {name: {0: "batch"} if fixed_length else {0: "batch", 1: "sequence"} for name in context.input_names}
    axes["logits"] = {0: "batch"}
    torch.onnx.export(
        context.wrapper, tuple(sample.values()), str(path), input_names=context.input_names, output_names=["logits"],
        dynamic_axes=axes, opset_version=OPSET, dynamo=False,
    )
    if context.precision == "int8-static":
        # Measured: static int8 of the plain graph runs faster than fp32 once onnxruntime fuses it at load,
        # and its calibrator cannot infer the fused contrib operators' shapes.
        return {"form": "plain", "why": "static int8 calibrates the plain graph (onnxruntime fuses it at load)"}
    if context.options.onnx_graph == "plain":
        return {"form": "plain", "why": "asked for (onnx_graph: plain)"}
    if context.options.onnx_graph == "auto" and context.precision == "int8-dynamic":
        # Measured (config.QuantizationOptions.onnx_graph): the plain int8 graph, fused by onnxruntime at load, ran
        # faster than the offline-fused one, whose attention quantize_dynamic turns into a slower QAttention.
        return {"form": "plain", "why": "int8-dynamic runs faster plain (onnx_graph: auto; --onnx-graph fused for the "
                "fused graph)"}
    fused = path.with_name("fused.onnx")
    outcome = export_fused(context.wrapper, sample, axes, OPSET, path, fused)
    if outcome["form"] == "fused":
        fused.replace(path)
    return outcome


def _to_fp16(path: Path, keep_float: tuple[str, ...] = (), fused: bool = False) -> dict:
    """Weights and compute in fp16; inputs and the logits output stay as they were (keep_io_types). Nodes named
    in ``keep_float`` stay fp32 (the converter's node_block_list, Casts around them): a layer whose fp16
    arithmetic overflows on a phone's fp16 kernels (the aarch64 lane's fallback) keeps fp32 there."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    _check_keep_float(path, keep_float)
    options = {"keep_io_types": True, "node_block_list": list(keep_float) or None}
    if fused:
        # ONNX shape inference stops at the contrib operators, and without their types the converter puts no
        # Cast before a kept-float node (its Gemm then mixes fp16 and fp32 and the file does not load):
        # OnnxModel's route types the graph with the symbolic shape inference that knows them.
        model = OnnxModel(onnx.load(str(path)))
        model.convert_float_to_float16(use_symbolic_shape_infer=True, **options)
        model = model.model
    else:
        model = convert_float_to_float16(onnx.load(str(path)), **options)
    onnx.save(model, str(path))
    return {"scheme": "fp16", "tool": "onnxruntime.transformers.float16", "keep_io_types": True,
            "kept_float": list(keep_float)}


def _quantize_dynamic(context: ExportContext, path: Path, fused: bool) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_type = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[context.options.onnx_weight_type]
    # The optimizer already cleaned the fused graph, and ONNX shape inference stops at its contrib
    # operators: quantize_dynamic then needs the default tensor type its own error message names.
    staged = _stage(path) if fused else _pre_process(path)
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT} if fused else {}
    # 7-bit signed weights: x86 kernels without VNNI sum u8 x s8 pairs in 16 bits, which 8-bit weights overflow
    reduce_range = weight_type == QuantType.QInt8
    _check_keep_float(staged, context.options.keep_float, dynamic=True)
    quantize_dynamic(str(staged), str(path), weight_type=weight_type, per_channel=context.options.per_channel,
                     reduce_range=reduce_range, nodes_to_exclude=list(context.options.keep_float), extra_options=extra)
    staged.unlink()
    return {"scheme": "int8-dynamic", "tool": "onnxruntime.quantization.quantize_dynamic",
            "weight_type": context.options.onnx_weight_type, "per_channel": context.options.per_channel,
            "reduce_range": reduce_range, "kept_float": list(context.options.keep_float)}


def _stage(path: Path) -> Path:
    staged = path.with_name("staged.onnx")
    path.replace(staged)
    return staged


def _small_table_lookups(path: Path, model) -> list[str]:
    """Gathers from tables other than the word embeddings (positions, token types): QDQ quantizes a
    Gather's table as one activation range, and on the demo student the position table's range cost 0.6
    points of agreement (0.9789 vs 0.9859) for 0.6 MB of file."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    rows = {tensor.name: tensor.dims[0] for tensor in graph.initializer if tensor.dims}
    vocabulary = model.config.vocab_size
    return [node.name for node in graph.node
            if node.op_type == "Gather" and node.input[0] in rows and rows[node.input[0]] != vocabulary]


def _pre_process(path: Path) -> Path:
    """onnxruntime's recommended pre-quantization pass (shape inference and graph cleanup)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    staged = path.with_name("preprocessed.onnx")
    # Symbolic shape inference cannot resolve the dynamic sequence axis through the mask ops; ONNX shape
    # inference and the graph optimisation still run.
    quant_pre_process(str(path), str(staged), skip_symbolic_shape=True)
    path.unlink()
    return staged


def _check_keep_float(path: Path, names: tuple[str, ...], dynamic: bool = False) -> None:
    """onnxruntime skips unknown names in nodes_to_exclude silently: a typo would quantize everything.
    ``dynamic``: quantize_dynamic's names, where a Gemm is known as ``<Gemm>_MatMul`` (layers.excludable_name)."""
    if not names:
        return
    import onnx

    from .layers import excludable_name

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    known = {excludable_name(node, dynamic) for node in nodes}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"keep_float: {unknown[0]!r} is not a node of this ONNX model; keep_float takes the node "
                          f"names the ONNX layer comparison ranks (mobile-distill diagnose)")


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over real tokenized texts, one text at a time."""

    def __init__(self, batches: list[dict[str, np.ndarray]]):
        self._batches = iter(batches)

    def get_next(self):
        return next(self._batches, None)


def _quantize_static(context: ExportContext, path: Path) -> dict:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    texts = context.calibration_texts()
    batches = [{name: tensor.numpy() for name, tensor in context.encode([text], torch.int64).items()} for text in texts]
    staged = _pre_process(path)
    _check_keep_float(staged, context.options.keep_float)
    quantize_static(
        str(staged), str(path), _Calibration(batches), quant_format=QuantFormat.QDQ,
        # uint8 activations with int8 weights (U8S8), not S8S8: measured on x86 AVX2, 1 thread, S8S8 QDQ ran 2.1x
        # slower than fp32 and U8S8 1.4x faster (benchmarks/RESULTS.md, onnx_int8_schemes). reduce_range (7-bit
        # weights): x86 CPUs without VNNI multiply u8 x s8 in 16-bit sums that saturate (onnxruntime's
        # quantization docs); with 8-bit weights the parity student lost 3.4 points there, with 7 none.
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=context.options.per_channel,
        reduce_range=True,
        calibrate_method=CalibrationMethod.MinMax,
        # Matrix products carry the compute and quantize well; LayerNorm, Softmax and GELU stay float.
        # Gather: the word-embedding table, int8 with its dequantization after the lookup (a quarter of the file).
        op_types_to_quantize=list(_STATIC_OPS),
        nodes_to_exclude=list(context.options.keep_float) + _small_table_lookups(staged, context.wrapper.model),
    )
    staged.unlink()
    return {"scheme": "int8-static", "format": "QDQ", "tool": "onnxruntime.quantization.quantize_static",
            "activations": "uint8", "weights": "int8 (7-bit range)", "calibration_texts": len(texts), "calibrate_method": "MinMax",
            "per_channel": context.options.per_channel, "quantized_ops": list(_STATIC_OPS),
            "kept_float": list(context.options.keep_float)}
