"""The fused ONNX graph: onnxruntime's transformer optimizer over an export its patterns recognise.

ONNX Runtime users run ``onnxruntime.transformers.optimizer.optimize_model`` before fp16 and int8
conversion: it rewrites each layer into contrib operators (com.microsoft Attention,
SkipLayerNormalization, BiasGelu, EmbedLayerNormalization) that quantize as whole units
(QAttention, QEmbedLayerNormalization with int8 tables) and that ONNX Runtime Mobile builds run
without their own graph rewriting.

Why a second export rather than optimizing the plain one: the optimizer's attention patterns
(onnxruntime 1.2x fusion_attention.py) match neither SDPA's graph (scale folded into Q and K, an
extra Reshape) nor the exporter wrapper's ``Where(mask, 0, -1e4)`` mask; they match eager attention
with the model's own mask builder, traced from the 0/1 mask. That mask builder uses the dtype's
minimum as its fill, which fp16 would turn into -inf, but in the fused graph the mask becomes the
Attention operator's integer ``mask_index`` and the operator applies its own finite fill: the
fp16-safety the wrapper gives the plain graph holds here too. The fused file is kept only if every
layer fused and its logits match the plain export's on real padded texts; otherwise the artifact is
the plain graph and its manifest says why.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ...families import family

# The fused file must give the plain export's logits to this (relative to the logits' scale): the
# fusions are exact rewrites, so anything beyond float rounding is a mismatched pattern.
PARITY_TOLERANCE = 1e-3


class _ModelMaskWrapper(torch.nn.Module):
    """The model with eager attention, fed the 0/1 mask as is (its own mask builder runs)."""

    def __init__(self, model: torch.nn.Module, uses_token_types: bool):
        super().__init__()
        self.model = model
        self.uses_token_types = uses_token_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        inputs = {"input_ids": input_ids.to(torch.long), "attention_mask": attention_mask.to(torch.long)}
        if self.uses_token_types:
            inputs["token_type_ids"] = token_type_ids.to(torch.long)
        return self.model(**inputs).logits


def fusion_plan(model: torch.nn.Module) -> tuple[str | None, str]:
    """(optimizer model type, "") when the optimizer supports this student, else (None, why not)."""
    entry = family(model)
    if entry.onnx_optimizer is None:
        return None, f"onnxruntime's transformer optimizer has no patterns for {entry.model_type}"
    return entry.onnx_optimizer, ""


def export_fused(wrapper, sample: dict[str, torch.Tensor], axes: dict, opset: int, plain: Path, out: Path) -> dict:
    """Write the fused graph to ``out`` and return what happened: {"form": "fused", "fusions": ...},
    or {"form": "plain", "why": ...} with ``out`` not written when the fused file is not kept."""
    model = wrapper.model
    optimizer_type, why = fusion_plan(model)
    if optimizer_type is None:
        return {"form": "plain", "why": why}
    traced = out.with_name("unfused.onnx")
    try:  # the fused file is an improvement, not a requirement: a failing optimizer leaves the plain one
        _export_model_mask(model, wrapper.uses_token_types, sample, axes, opset, traced)
        fusions = _optimize(traced, out, optimizer_type, model.config)
    except Exception as error:  # noqa: BLE001 - any failure of the optional step; its message is kept
        out.unlink(missing_ok=True)
        return {"form": "plain", "why": f"the fused export failed: {type(error).__name__}: {str(error)[:200]}"}
    finally:
        traced.unlink(missing_ok=True)
    layers = len(family(model).layer_list(model))
    if fusions.get("Attention", 0) != layers:
        out.unlink()
        return {"form": "plain", "why": f"the optimizer fused attention in {fusions.get('Attention', 0)} of {layers} layers"}
    error = _logit_error(plain, out, {name: tensor.numpy() for name, tensor in sample.items()})
    if error > PARITY_TOLERANCE:
        out.unlink()
        return {"form": "plain", "why": f"the fused graph's logits differ from the plain export's by {error:.2e} (scaled)"}
    return {"form": "fused", "tool": "onnxruntime.transformers.optimizer (model_type " + optimizer_type + ")",
            "fusions": fusions, "fused_vs_plain_error": float(f"{error:.2e}")}


def _export_model_mask(model, uses_token_types: bool, sample: dict, axes: dict, opset: int, path: Path) -> None:
    eager = copy.deepcopy(model).eval()
    eager.set_attn_implementation("eager")
    names = list(sample)
    torch.onnx.export(_ModelMaskWrapper(eager, uses_token_types), tuple(sample.values()), str(path), input_names=names,
                      output_names=["logits"], dynamic_axes=axes, opset_version=opset, dynamo=False)


def _optimize(source: Path, out: Path, optimizer_type: str, config) -> dict[str, int]:
    from onnxruntime.transformers.optimizer import optimize_model

    heads = getattr(config, "num_attention_heads", None) or config.n_heads
    hidden = getattr(config, "hidden_size", None) or config.dim
    # num_heads/hidden_size given: the optimizer's own detection (0, 0) leaves attention unfused here. Where a
    # layer's Reshape says otherwise (heads pruned) it uses the layer's own count; the parity check confirms.
    optimized = optimize_model(str(source), model_type=optimizer_type, num_heads=heads, hidden_size=hidden)
    optimized.save_model_to_file(str(out))
    return {name: count for name, count in optimized.get_fused_operator_statistics().items() if count}


def _logit_error(plain: Path, fused: Path, feed: dict[str, np.ndarray]) -> float:
    import onnxruntime

    logits = [onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logits"], feed)[0]
              for path in (plain, fused)]
    return float(np.abs(logits[0] - logits[1]).max() / max(1.0, float(np.abs(logits[0]).max())))


def operator_sets(path: Path) -> dict:
    """The operator domains, opset versions and operators the file's nodes use: what an ONNX Runtime
    Mobile (reduced operator) build must include to load it."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    used = Counter((node.domain or "ai.onnx", node.op_type) for node in model.graph.node)
    versions = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    domains = sorted({domain for domain, _ in used})
    return {"opsets": {domain: versions.get(domain) for domain in domains},
            "operators": {domain: sorted(op for d, op in used if d == domain) for domain in domains}}
