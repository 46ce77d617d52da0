"""The precision registry: what each precision means, gate 2's default thresholds for it, and the
parity tolerance the export tests hold every target to, in one place.

Gate 2 and the parity tests read the same floors: a precision's ``min_agreement`` is what bench
demands of a real artifact and what the parity test demands of a tiny text-dependent one, so a
test cannot pass an export that the gate would fail. Nothing heavy is imported here: the config,
the CLI's ``--help`` and the docs read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str
    meaning: str
    # Gate 2 defaults. MLPerf accepts quantized BERT at 99% of the fp32 reference; these are stricter:
    # an artifact may lose at most 0.5 (float) or 1.0 (int8 / compressed) accuracy points against the
    # PyTorch model it came from, and must predict the same class on 99.5% / 98% of rows.
    max_accuracy_drop: float
    min_agreement: float
    # Parity: the largest |logit difference| allowed against PyTorch on the parity model (tests/planted.py),
    # whose logit gap between the classes has a standard deviation of 2 over its texts; the parity test
    # checks that the logits move with the text by more than the tolerance.
    max_abs_logit_diff: float
    quantized: bool = False  # int8 or palettized weights: per-layer comparison and auto-fallback apply
    # Diagnose's departure check: the relative error at a module's output (against the PyTorch module, same
    # ids) that this precision explains. Measured on tiny and 3-layer BERT/DistilBERT students: fp32 files
    # sit at 1e-7-1e-5, fp16 at 1e-4-1e-2, int8 at 0.01-0.12 (layer 0's FFN); a broken module is at 0.5-inf.
    module_tolerance: float = 0.3

    @property
    def logit_diff_quantile(self) -> float:
        """Which texts the logit tolerance bounds: all of them for float precisions; 95% for quantized
        ones, because calibrated int8 clips the most confident texts' logits at the calibrated range
        (measured: one short text's logit cut by 4.2 in ONNX and TFLite alike, same predicted class),
        which is what agreement, not a logit bound, judges."""
        return 0.95 if self.quantized else 1.0

    def __post_init__(self):
        if not (0 <= self.max_accuracy_drop <= 100 and 0 <= self.min_agreement <= 1 and self.max_abs_logit_diff > 0):
            raise ValueError(f"precision {self.name}: a threshold is out of range")


_ALL = (
    Precision("fp32", "float32 weights and compute", 0.5, 0.995, 1e-4, module_tolerance=1e-3),
    Precision("fp16", "float16 weights (compute in fp16 where the runtime does it)", 0.5, 0.995, 5e-2,
              module_tolerance=0.05),
    # int8: 0.75 on logit gaps of standard deviation 2 (the parity model's); measured there, 0.16-0.61
    Precision("int8-dynamic", "int8 weights, activations quantized at run time", 1.0, 0.98, 0.75, quantized=True),
    Precision("int8-static", "int8 weights and activations, ranges calibrated on training texts", 1.0, 0.98, 0.75,
              quantized=True),
    Precision("int8", "int8 weights, float compute (Core ML)", 1.0, 0.98, 0.75, quantized=True),
    Precision("palettized", "6-bit k-means weight palettes, float compute (Core ML)", 1.0, 0.98, 0.75, quantized=True),
)
PRECISIONS: dict[str, Precision] = {precision.name: precision for precision in _ALL}
PRECISION_NAMES: tuple[str, ...] = tuple(PRECISIONS)

MAX_ACCURACY_DROP = {name: precision.max_accuracy_drop for name, precision in PRECISIONS.items()}
MIN_AGREEMENT = {name: precision.min_agreement for name, precision in PRECISIONS.items()}
