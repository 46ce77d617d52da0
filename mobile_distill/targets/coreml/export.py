"""Core ML export with coremltools (ML program, iOS 16+), and its weight compression.

The route that converts BERT here: ``torch.export`` + the default decompositions, then
``ct.convert``. (``torch.jit.trace`` + ``ct.convert`` failed, and exporting without the
decompositions failed on ``new_ones``.) Core ML models only run on macOS; on other systems the
package is written and its spec is checked, and bench reports it as "not run: needs macOS".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .target import TARGET
from ...manifest import TensorSpec
from ...export.context import ExportContext, ExportedModel

_FILE = TARGET.model_file
PALETTE_BITS = 6  # 6-bit k-means palettes: 4-bit halves the size again but loses more accuracy
# Tensors smaller than this stay float (biases, LayerNorm): compressing them saves nothing.
WEIGHT_THRESHOLD = 512


def export_coreml(context: ExportContext, folder: Path) -> ExportedModel:
    import coremltools as ct

    sample = context.sample_inputs(torch.int32, batch_size=1)
    with torch.no_grad():
        program = torch.export.export(context.wrapper.eval(), tuple(sample.values())).run_decompositions()
    shape = (1, context.options.seq_len)
    fp16 = context.precision in ("fp16", "int8", "palettized")
    model = ct.convert(
        program,
        convert_to="mlprogram",
        inputs=[ct.TensorType(name=name, shape=shape, dtype=np.int32) for name in context.input_names],
        outputs=[ct.TensorType(name="logits")],
        compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
        minimum_deployment_target=ct.target.iOS16,
    )
    model, quantization = _compress(model, context.precision)
    _describe(model, context)
    model.save(str(folder / _FILE))
    return ExportedModel(
        model_file=_FILE,
        inputs=tuple(TensorSpec(name=name, dtype="int32", shape=shape) for name in context.input_names),
        output=TensorSpec(name="logits", dtype="float16" if fp16 else "float32", shape=(1, len(context.labels))),
        static_shapes=True,
        quantization={**quantization, "compute_precision": "fp16" if fp16 else "fp32",
                      "minimum_deployment_target": "iOS16"},
    )


def _compress(model, precision: str):
    import coremltools.optimize.coreml as cto

    if precision == "int8":
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8",
                                                                                weight_threshold=WEIGHT_THRESHOLD))
        return cto.linear_quantize_weights(model, config), {"scheme": "int8-weights", "mode": "linear_symmetric"}
    if precision == "palettized":
        config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="kmeans", nbits=PALETTE_BITS,
                                                                           weight_threshold=WEIGHT_THRESHOLD))
        return cto.palettize_weights(model, config), {"scheme": "palettized", "mode": "kmeans", "nbits": PALETTE_BITS}
    return model, {"scheme": "none"}


def _describe(model, context: ExportContext) -> None:
    """Labels, a description and input/output descriptions, stored in the spec for Xcode and apps."""
    model.short_description = f"Text classifier ({', '.join(context.labels)}), exported by mobile-distill"
    model.user_defined_metadata["labels"] = "\n".join(context.labels)
    model.user_defined_metadata["sequence_length"] = str(context.options.seq_len)
    described = {
        "input_ids": "WordPiece token ids, [CLS] first, padded with [PAD] to the sequence length",
        "attention_mask": "1 for real tokens, 0 for padding",
        "token_type_ids": "segment ids: 0 for the first text, 1 for the second of a pair",
    }
    for name in context.input_names:
        model.input_description[name] = described[name]
    model.output_description["logits"] = "unnormalised class scores in labels order (softmax for probabilities)"
