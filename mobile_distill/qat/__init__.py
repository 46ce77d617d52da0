"""QAT stage: quantization-aware training of a distilled student, so that an int8 artifact that loses
accuracy after post-training quantization (PTQ) can be repaired by training, not only by keeping
layers in float.

torchao's QAT flow (``quantize_(model, QATConfig(..., step="prepare"))``) swaps every ``nn.Linear``
for a fake-quantized one that rounds, in the forward pass, its weights to int8 per output channel
(symmetric) and its input activations to int8 per token (asymmetric, range taken at run time): what
the int8-dynamic kernels of XNNPACK (ExecuTorch), TFLite's dynamic-range path and ONNX Runtime
compute (ONNX Runtime takes one range per tensor, coarser than per token). The student then learns
from the teacher's soft targets and the labels with that rounding in the loop (straight-through
gradients), so its weights move where rounding costs least. ``step="convert"`` swaps the plain
``nn.Linear`` back: the result is a normal student folder (same class, same shapes, safetensors),
and every int8 exporter quantizes it again, with its own scheme and, for int8-static, its own
calibration (the issue's "recalibrated" route; no runtime here takes torchao's scales as they are).

The BiLSTM and CNN students are refused: their recurrent and convolution weights are not
``nn.Linear``, so the fake quantization would miss the layers their int8 artifacts round.

Validation accuracy is measured *with* the fake quantization, before training (what PTQ should
give) and after (what the QAT artifacts should give); both go to ``qat_log.json`` with the float
accuracy, and the best checkpoint by fake-quantized validation accuracy is kept. A rerun with the
same settings resumes from the last checkpoint.
"""

from .train import (
    QATResult,
    fake_quantize,
    qat_settings,
    quantization_aware_training,
    to_float,
)

__all__ = ["QATResult", "fake_quantize", "qat_settings", "quantization_aware_training", "to_float"]
