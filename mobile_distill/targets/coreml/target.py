"""Core ML: an ML program (.mlpackage) made with coremltools. It runs only on macOS; elsewhere the
package's spec can still be read, so its declared inputs are checked everywhere."""

from __future__ import annotations

from pathlib import Path

from ..base import DeclaredInput, Target

# ArrayFeatureType.ArrayDataType codes of the Core ML spec
_ARRAY_TYPES = {65568: "float32", 65552: "float16", 131104: "int32"}

TARGET = Target(
    package=__package__,
    name="coreml",
    model_file="model.mlpackage",
    precisions=("fp32", "fp16", "int8", "palettized"),
    runtime="Core ML through coremltools (macOS only; elsewhere spec checks)",
    packages=("coremltools",),
    loggers=("coremltools",),
    exporter=".export:export_coreml",
    runner=".runner:CoremlRunner",
    declared_inputs=".target:declared_inputs",
    platforms=("Darwin",),
    # fp16, int8 and palettized packages compute in fp16 (int8/palettized compress fp16 weights)
    fp16_compute=("fp16", "int8", "palettized"),
)


def declared_inputs(model_path: Path) -> list[DeclaredInput]:
    import coremltools as ct

    spec = ct.utils.load_spec(str(model_path))
    return [DeclaredInput(item.name, _ARRAY_TYPES.get(item.type.multiArrayType.dataType, "?"),
                          tuple(item.type.multiArrayType.shape)) for item in spec.description.input]
