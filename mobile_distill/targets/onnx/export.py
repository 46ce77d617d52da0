"""ONNX export (torch.onnx, TorchScript exporter) and onnxruntime's own fp16 and int8 tools.

The TorchScript-based exporter (``dynamo=False``) is used because it gives dynamic batch and
sequence axes on BERT with named inputs in one call; its output matched PyTorch to ~1e-8 here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import ConfigError
from ...families import family
from .target import TARGET
from ...manifest import TensorSpec
from ...export.context import ExportContext, ExportedModel

OPSET = 17
_FILE = TARGET.model_file


def export_onnx(context: ExportContext, folder: Path) -> ExportedModel:
    # A padding-sensitive model (MobileBERT) gives the logits it was trained and checked for only when
    # padded to the full length, so its file takes exactly that length: the contract then says so. So does
    # a model whose export is written out one step per position (the BiLSTM student).
    model = context.wrapper.model
    fixed_length = family(model).padding_sensitive or getattr(model, "export_unrolls_sequence", False)
    fp32 = folder / _FILE
    _export_fp32(context, fp32, fixed_length)
    quantization: dict = {"scheme": "none"}
    if context.precision == "fp16":
        quantization = _to_fp16(fp32, context.options.keep_float)
    elif context.precision == "int8-dynamic":
        quantization = _quantize_dynamic(context, fp32)
    elif context.precision == "int8-static":
        quantization = _quantize_static(context, fp32)
    sequence = context.options.seq_len if fixed_length else "sequence"
    inputs = tuple(TensorSpec(name=name, dtype="int64", shape=("batch", sequence)) for name in context.input_names)
    return ExportedModel(
        model_file=_FILE,
        inputs=inputs,
        output=TensorSpec(name="logits", dtype="float32", shape=("batch", len(context.labels))),
        static_shapes=fixed_length,
        quantization=quantization,
    )


def _export_fp32(context: ExportContext, path: Path, fixed_length: bool) -> None:
    sample = context.sample_inputs(torch.int64)
    axes = {name: {0: "batch"} if fixed_length else {0: "batch", 1: "sequence"} for name in context.input_names}
    axes["logits"] = {0: "batch"}
    torch.onnx.export(
        context.wrapper, tuple(sample.values()), str(path), input_names=context.input_names, output_names=["logits"],
        dynamic_axes=axes, opset_version=OPSET, dynamo=False,
    )


def _to_fp16(path: Path, keep_float: tuple[str, ...] = ()) -> dict:
    """Weights and compute in fp16; inputs and the logits output stay as they were (keep_io_types). Nodes named
    in ``keep_float`` stay fp32 (the converter's node_block_list, Casts around them): a layer whose fp16
    arithmetic overflows on a phone's fp16 kernels (the aarch64 lane's fallback) keeps fp32 there."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    _check_keep_float(path, keep_float)
    model = convert_float_to_float16(onnx.load(str(path)), keep_io_types=True, node_block_list=list(keep_float) or None)
    onnx.save(model, str(path))
    return {"scheme": "fp16", "tool": "onnxruntime.transformers.float16", "keep_io_types": True,
            "kept_float": list(keep_float)}


def _quantize_dynamic(context: ExportContext, path: Path) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_type = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[context.options.onnx_weight_type]
    staged = _pre_process(path)
    _check_keep_float(staged, context.options.keep_float)
    quantize_dynamic(str(staged), str(path), weight_type=weight_type, per_channel=context.options.per_channel,
                     nodes_to_exclude=list(context.options.keep_float))
    staged.unlink()
    return {"scheme": "int8-dynamic", "tool": "onnxruntime.quantization.quantize_dynamic",
            "weight_type": context.options.onnx_weight_type, "per_channel": context.options.per_channel,
            "kept_float": list(context.options.keep_float)}


def _pre_process(path: Path) -> Path:
    """onnxruntime's recommended pre-quantization pass (shape inference and graph cleanup)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    staged = path.with_name("preprocessed.onnx")
    # Symbolic shape inference cannot resolve the dynamic sequence axis through the mask ops; ONNX shape
    # inference and the graph optimisation still run.
    quant_pre_process(str(path), str(staged), skip_symbolic_shape=True)
    path.unlink()
    return staged


def _check_keep_float(path: Path, names: tuple[str, ...]) -> None:
    """onnxruntime skips unknown names in nodes_to_exclude silently: a typo would quantize everything."""
    if not names:
        return
    import onnx

    known = {node.name for node in onnx.load(str(path), load_external_data=False).graph.node}
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
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=context.options.per_channel,
        calibrate_method=CalibrationMethod.MinMax,
        # Matrix products carry the compute and quantize well; LayerNorm, Softmax and GELU stay float.
        op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=list(context.options.keep_float),
    )
    staged.unlink()
    return {"scheme": "int8-static", "format": "QDQ", "tool": "onnxruntime.quantization.quantize_static",
            "calibration_texts": len(texts), "calibrate_method": "MinMax", "per_channel": context.options.per_channel,
            "quantized_ops": ["MatMul", "Gemm"], "kept_float": list(context.options.keep_float)}
