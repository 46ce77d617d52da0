"""ONNX: exported with torch.onnx, checked with onnxruntime; dynamic batch and sequence axes."""

from __future__ import annotations

from pathlib import Path

from ..base import DeclaredInput, Target

TARGET = Target(
    package=__package__,
    name="onnx",
    model_file="model.onnx",
    precisions=("fp32", "fp16", "int8-dynamic", "int8-static"),
    runtime="onnxruntime (CPU)",
    packages=("onnxruntime", "onnx"),
    android_runtime="ONNX Runtime Android",
    loggers=("onnxruntime",),
    exporter=".export:export_onnx",
    runner=".runner:OnnxRunner",
    declared_inputs=".target:declared_inputs",
    timing=".timing:OnnxApp",
    layer_comparison=".layers:compare_onnx_layers",
    tracer=".trace:OnnxTracer",
    keep_float_names="ONNX node names",
    fp16_compute=("fp16",),
    fp16_note="",
    static_shapes=False,
)


def declared_inputs(model_path: Path) -> list[DeclaredInput]:
    """The graph's inputs (initializers aside), read from the file without starting a session."""
    import numpy as np
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(str(model_path), load_external_data=False).graph
    weights = {tensor.name for tensor in graph.initializer}
    inputs = []
    for value in graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        shape = tuple(dim.dim_param or dim.dim_value for dim in tensor.shape.dim)
        inputs.append(DeclaredInput(value.name, np.dtype(tensor_dtype_to_np_dtype(tensor.elem_type)).name, shape))
    return inputs
