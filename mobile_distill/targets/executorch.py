"""ExecuTorch: a .pte lowered to XNNPACK, run by the ExecuTorch runtime; static shapes, inputs bound
by position (the program stores no input names)."""

from __future__ import annotations

from pathlib import Path

from .base import DeclaredInput, Target

# c10::ScalarType codes the method metadata reports
_SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32"}

TARGET = Target(
    name="executorch",
    model_file="model.pte",
    precisions=("fp32", "int8-dynamic"),
    runtime="ExecuTorch runtime (XNNPACK)",
    exporter="mobile_distill.export.executorch:export_executorch",
    runner="mobile_distill.runners.executorch:ExecutorchRunner",
    declared_inputs="mobile_distill.targets.executorch:declared_inputs",
    layer_comparison="mobile_distill.diagnose.layers_executorch:compare_executorch_layers",
    keep_float_names="nn.Linear module names",
    fp16_note="ExecuTorch artifacts compute in fp32",
)


def declared_inputs(model_path: Path) -> list[DeclaredInput]:
    from ..runners.executorch import load_program

    program = load_program(model_path)
    meta = program.method_meta("forward") if hasattr(program, "method_meta") else program.metadata("forward")
    return [DeclaredInput(None, _SCALAR_TYPES.get(meta.input_tensor_meta(i).dtype(), str(meta.input_tensor_meta(i).dtype())),
                          tuple(meta.input_tensor_meta(i).sizes())) for i in range(meta.num_inputs())]
