"""ExecuTorch: a .pte lowered to XNNPACK, run by the ExecuTorch runtime; static shapes, inputs bound
by position (the program stores no input names)."""

from __future__ import annotations

from pathlib import Path

from ..base import DeclaredInput, Target

# c10::ScalarType codes the method metadata reports
_SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32"}

TARGET = Target(
    package=__package__,
    name="executorch",
    model_file="model.pte",
    precisions=("fp32", "int8-dynamic"),
    runtime="ExecuTorch runtime (XNNPACK)",
    packages=("executorch", "torchao"),
    loggers=("executorch", "torchao"),
    exporter=".export:export_executorch",
    runner=".runner:ExecutorchRunner",
    declared_inputs=".target:declared_inputs",
    timing=".timing:ExecutorchApp",
    layer_comparison=".layers:compare_executorch_layers",
    verbatim_weights=("fp32",),
    keep_float_names="nn.Linear and nn.Embedding module names",
    fp16_note="ExecuTorch artifacts compute in fp32",
)


def declared_inputs(model_path: Path) -> list[DeclaredInput]:
    from .program import load_program  # imports the ExecuTorch runtime: on first use only

    program = load_program(model_path)
    meta = program.method_meta("forward") if hasattr(program, "method_meta") else program.metadata("forward")
    return [DeclaredInput(None, _SCALAR_TYPES.get(meta.input_tensor_meta(i).dtype(), str(meta.input_tensor_meta(i).dtype())),
                          tuple(meta.input_tensor_meta(i).sizes())) for i in range(meta.num_inputs())]
