"""Weights check, for formats whose intermediate tensors cannot be read here but whose file keeps the
reference's weights byte for byte (`Target.verbatim_weights`: ExecuTorch fp32, whose XNNPACK delegate
is opaque to tracing but stores each float32 vector and matrix as PyTorch holds it; measured on BERT,
every one of 41 parameters found). Each of the reference's is looked for in the file:

module-departure  The first parameter (in module order) the file does not hold: its module, and for a
                  matrix how many rows differ and by how much, read where the rows that do match
                  place them.
non-finite        The same, when the rows that differ hold NaN or inf.
"""

from __future__ import annotations

import numpy as np

from ..targets import TARGETS
from .context import Probe
from .report import Cause, Outcome, clear, found, skipped


def check_weights(probe: Probe) -> Outcome:
    target = TARGETS.get(probe.manifest.target)
    if target is None or probe.manifest.precision not in target.verbatim_weights:
        return skipped("the file does not keep the reference's weights byte for byte (this is "
                       f"{probe.manifest.target} {probe.manifest.precision}); the departure check traces it instead")
    data = (probe.artifact_dir / probe.manifest.model_file).read_bytes()
    # vectors and matrices only: XNNPACK re-lays convolution kernels out (channels last), measured on the CNN student
    parameters = [(name, value.detach().float().numpy()) for name, value in probe.reference.model.named_parameters()
                  if value.dim() <= 2]
    for name, weight in parameters:
        if _holds(data, weight):
            continue
        module = name.rsplit(".", 1)[0]
        rows = _rows(data, weight)
        detail = {"parameter": name, "module": module, "parameters": len(parameters), **rows}
        if rows.get("non_finite"):
            count = rows["non_finite"]
            summary = (f"the file's {name} holds NaN or inf ({count} value{'s' if count > 1 else ''}, in rows "
                       f"{rows['differing'][:5]}): "
                       f"module {module} computes non-finite values from there")
            return found(Cause("non-finite", summary, detail), detail=detail)
        where = (f": {len(rows['differing'])} of {weight.shape[0]} rows differ, by up to {rows['largest']:.3g}"
                 if "differing" in rows else "")
        summary = f"the file's weights depart from the reference's first at module {module} ({name}{where})"
        return found(Cause("module-departure", summary, detail), detail=detail)
    return clear(f"the file holds all {len(parameters)} parameters of the reference byte for byte")


def _holds(data: bytes, weight: np.ndarray) -> bool:
    return weight.astype("<f4").tobytes() in data or (weight.ndim == 2 and weight.T.astype("<f4").tobytes() in data)


def _rows(data: bytes, weight: np.ndarray) -> dict:
    """Which rows of a matrix the file holds otherwise: located from the rows it does hold, read there."""
    if weight.ndim != 2:
        return {}
    row_bytes = weight.shape[1] * 4
    offsets = {i: data.find(weight[i].astype("<f4").tobytes()) for i in range(weight.shape[0])}
    starts = {offset - i * row_bytes for i, offset in offsets.items() if offset >= 0}
    if len(starts) != 1:  # no row found, or rows in more than one place: the layout is not known
        return {}
    start = starts.pop()
    if start < 0 or start + weight.size * 4 > len(data):
        return {}
    stored = np.frombuffer(data, dtype="<f4", count=weight.size, offset=start).reshape(weight.shape)
    differing = [i for i in range(weight.shape[0]) if not np.array_equal(stored[i], weight[i])]
    with np.errstate(invalid="ignore"):
        largest = float(np.nanmax(np.abs(stored - weight))) if np.isfinite(stored).any() else float("inf")
    return {"differing": differing, "largest": largest, "non_finite": int(np.size(stored) - np.isfinite(stored).sum())}
