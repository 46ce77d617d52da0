"""What a diagnosis hands back: the checks that ran, the causes they found (most likely first)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

Status = Literal["found", "clear", "skipped", "crashed"]

# Upstream first: whether the file is the one exported; what the artifact folder states wrongly (labels,
# manifest); then a wrong feed (binding, dtype, ids, mask, segment ids, tokenizer, length) makes every
# layer after it diverge, so numeric blame is only trustworthy once the feed is right; the named numeric
# causes (fp16 overflow, a quantized layer) before the localisation that names only a place (the first
# non-finite operation, the first departing module).
CODES = ("file-modified", "file-unreadable", "label-mismatch", "manifest-mismatch", "input-binding", "id-dtype",
         "id-range", "mask-ignored", "mask-inverted", "token-types", "tokenizer-mismatch", "padding-length",
         "fp16-overflow", "quantization-layer", "non-finite", "module-departure", "arm64-kernels")


@dataclass(frozen=True)
class Cause:
    """One named cause: ``code`` (one of `CODES`), one human sentence, and the evidence.

    ``before`` / ``after``: agreement with the reference as delivered and once the cause is
    undone (the inputs re-bound, the ids wrapped on the reference side, ...), when a check could
    measure that; ``None`` otherwise.
    """

    code: str
    summary: str
    detail: dict = field(default_factory=dict)
    before: float | None = None
    after: float | None = None
    kappa: float | None = None  # chance-corrected agreement of ``after`` (see `metrics.kappa`)
    reproduced: bool = False  # the undone feed gives the artifact's own logits (see `context.Trial.reproduces`)

    @property
    def confirmed(self) -> bool:
        """Undoing the cause closed at least half of the disagreement (see `restores`)."""
        return (self.before is not None and self.after is not None
                and restores(self.before, self.after, self.kappa, self.reproduced))

    def to_dict(self) -> dict:
        return plain({**asdict(self), "confirmed": self.confirmed})


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    summary: str
    detail: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return plain(asdict(self))


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; `diagnose` turns it into a `Check` plus its causes."""

    status: Status
    summary: str
    causes: tuple[Cause, ...] = ()
    detail: dict = field(default_factory=dict)


def found(*causes: Cause, detail: dict | None = None) -> Outcome:
    return Outcome("found", causes[0].summary, tuple(causes), detail or {})


def clear(summary: str, detail: dict | None = None) -> Outcome:
    return Outcome("clear", summary, (), detail or {})


def skipped(reason: str, detail: dict | None = None) -> Outcome:
    return Outcome("skipped", f"skipped: {reason}", (), detail or {})


def crashed(error: BaseException) -> Outcome:
    """A check that raised: reported as such (a bug in the check), never as skipped."""
    lines = str(error).strip().splitlines()
    message = f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
    return Outcome("crashed", f"check crashed: {message}", (), {"error": message})


MIN_KAPPA = 0.5


def restores(before: float, after: float, kappa: float | None = None, reproduced: bool = False) -> bool:
    """True when ``after`` closes at least half of the gap to full agreement, by 5 points or more,
    and (when ``kappa`` is given) beyond chance, or by reproducing the artifact's logits outright.

    Half the gap, not a fixed gain: a random change of the feed can move agreement by a few
    points on a small sample, but it does not halve the disagreement. Beyond chance: a feed that
    makes the reference predict one class everywhere matches an artifact collapsed to that class.
    """
    beyond_chance = kappa is None or kappa >= MIN_KAPPA or reproduced
    return after - before >= max(0.05, 0.5 * (1.0 - before)) and beyond_chance


def rank(causes: list[Cause]) -> list[Cause]:
    """Confirmed causes first (largest recovery first), then the others, upstream first."""

    def key(cause: Cause):
        gain = (cause.after - cause.before) if cause.confirmed else 0.0
        return (not cause.confirmed, -gain, CODES.index(cause.code))

    return sorted(causes, key=key)


@dataclass(frozen=True)
class Diagnosis:
    artifact: str
    reference: str
    target: str
    precision: str
    texts: int
    agreement: float | None  # prediction agreement with the reference on the texts as delivered
    causes: list[Cause]
    checks: list[Check]
    accuracy: dict = field(default_factory=dict)  # artifact / reference accuracy when labels were given
    notes: list[str] = field(default_factory=list)

    @property
    def cause(self) -> Cause | None:
        return self.causes[0] if self.causes else None

    @property
    def crashed(self) -> list[Check]:
        return [check for check in self.checks if check.status == "crashed"]

    def to_dict(self) -> dict:
        return plain({
            "artifact": self.artifact, "reference": self.reference, "target": self.target,
            "precision": self.precision, "texts": self.texts, "agreement": self.agreement,
            "accuracy": self.accuracy, "notes": list(self.notes),
            "causes": [cause.to_dict() for cause in self.causes],
            "checks": [check.to_dict() for check in self.checks],
        })


def plain(value):
    """A strict-JSON copy: numpy scalars as Python numbers, NaN and inf as the strings "nan" / "inf"."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
