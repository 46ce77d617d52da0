"""TFLite (LiteRT): converted with litert-torch, quantized with ai-edge-quantizer, checked with the
ai-edge-litert Interpreter through the model's ``serving_default`` signature; static shapes."""

from __future__ import annotations

from pathlib import Path

from ..base import DeclaredInput, Target

SIGNATURE = "serving_default"

TARGET = Target(
    package=__package__,
    name="tflite",
    model_file="model.tflite",
    precisions=("fp32", "fp16", "int8-dynamic", "int8-static"),
    runtime="ai-edge-litert Interpreter; MediaPipe TextClassifier",
    packages=("ai-edge-litert", "litert-torch", "ai-edge-quantizer"),
    android_runtime="LiteRT",
    loggers=("litert_torch", "ai_edge_quantizer", "absl", "tensorflow"),
    exporter=".export:export_tflite",
    runner=".runner:TfliteRunner",
    declared_inputs=".target:declared_inputs",
    timing=".timing:TfliteApp",
    layer_comparison=".layers:compare_tflite_layers",
    tracer=".trace:TfliteTracer",
    keep_float_names="TFLite output tensor names",
    fp16_note="TFLite fp16 stores weights in fp16 and computes in fp32",
)


def declared_inputs(model_path: Path) -> list[DeclaredInput]:
    """The signature's inputs in the order of their tensor indices."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_path=str(model_path)).get_signature_runner(SIGNATURE)
    details = sorted(signature.get_input_details().items(), key=lambda item: item[1]["index"])
    return [DeclaredInput(name, np.dtype(d["dtype"]).name, tuple(int(x) for x in d["shape"])) for name, d in details]
