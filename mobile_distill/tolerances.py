"""Parity tolerances of an exported model against its PyTorch reference, per precision, in one place.

``max_abs_logit_diff`` bounds the largest logit difference on real text (padding included);
``min_agreement`` is the floor on identical predicted classes. Export parity tests read this
table, and a registered (target, precision) pair without an entry fails the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    max_abs_logit_diff: float | None
    min_agreement: float


PARITY: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs_logit_diff=1e-4, min_agreement=1.0),
    "fp16": Tolerance(max_abs_logit_diff=5e-2, min_agreement=0.99),
    "int8-dynamic": Tolerance(max_abs_logit_diff=None, min_agreement=0.95),
    "int8-static": Tolerance(max_abs_logit_diff=None, min_agreement=0.95),
    "int8": Tolerance(max_abs_logit_diff=None, min_agreement=0.98),  # int8 weights, float compute (Core ML)
    "palettized": Tolerance(max_abs_logit_diff=None, min_agreement=0.95),  # 6-bit k-means weights (Core ML)
}
