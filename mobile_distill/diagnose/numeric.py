"""fp16 overflow: the reference's own activations, measured with forward hooks, against fp16's range.

fp16 tops out at 65504; anything larger becomes inf, and a LayerNorm or softmax of inf is NaN,
which then spreads to every token through attention. Whether a given runtime really stores that
tensor in fp16 varies (onnxruntime's CPU provider computes fp16 MatMuls in fp32 and drops the
casts between them, but stores LayerNorm inputs in fp16), so the check names every module whose
output leaves the range, and reports whether the artifact's logits are non-finite.

Attention scores (query . key) are computed inside the attention module, not as a module output,
so an overflow there is only seen through its consequences.
"""

from __future__ import annotations

import numpy as np
import torch

from ..targets import TARGETS
from .context import Probe
from .report import Cause, Outcome, clear, found, skipped

FP16_MAX = 65504.0
FP16_TEXTS = 32  # activation peaks settle quickly; the hooks hold one float per module


def fp16_reason(manifest) -> str | None:
    """Why the artifact never holds activations in fp16 (the check is skipped), or None; from the
    target registry's ``fp16_compute``."""
    target = TARGETS.get(manifest.target)
    if target is not None and manifest.precision in target.fp16_compute:
        return None
    note = target.fp16_note if target is not None and manifest.precision == "fp16" else ""
    return note or f"{manifest.target} {manifest.precision} does not compute in fp16"


def check_fp16(probe: Probe) -> Outcome:
    if reason := fp16_reason(probe.manifest):
        return skipped(reason)
    feed = {name: probe.batch[name][:FP16_TEXTS] for name in probe.reference.input_names}
    peaks = activation_peaks(probe.reference.model, feed)
    over = [(name, peak) for name, peak in peaks.items() if peak > FP16_MAX]
    detail = {"over_fp16": {name: peak for name, peak in over}, "texts": len(feed["input_ids"]),
              "largest": dict(sorted(peaks.items(), key=lambda item: -item[1])[:5])}
    nonfinite = ""
    if probe.probe_logits is not None:
        rows = int((~np.isfinite(probe.probe_logits).all(-1)).sum())
        detail["nonfinite_rows"] = rows
        nonfinite = f" and gives NaN/inf logits on {rows} of {len(probe.probe_logits)} texts"
    if not over:
        name, peak = max(peaks.items(), key=lambda item: item[1])
        return clear(f"largest activation {peak:.3g} (at {name}) is within fp16's range", detail)
    name, peak = over[0]
    more = f" (and {len(over) - 1} more module(s))" if len(over) > 1 else ""
    summary = (f"fp16 overflow: the output of {name} reaches {peak:.3g} on the reference, past fp16's 65504{more}; "
               f"the artifact computes in fp16{nonfinite}")
    return found(Cause("fp16-overflow", summary, detail), detail=detail)


def activation_peaks(model: torch.nn.Module, feed: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |output| of every leaf module (dropout aside: it repeats its input), in call order."""
    peaks: dict[str, float] = {}

    def hook(name):
        def record(_module, _inputs, output):
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if torch.is_tensor(tensor) and tensor.is_floating_point() and tensor.numel():
                peaks[name] = max(peaks.get(name, 0.0), float(tensor.detach().abs().max()))
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in model.named_modules()
               if name and not list(module.children()) and not isinstance(module, torch.nn.Dropout)]
    try:
        with torch.inference_mode():
            model(**{name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in feed.items()})
    finally:
        for handle in handles:
            handle.remove()
    return peaks
