"""Attention scores read from any BERT-family model: the query and key projections of the layers asked
for, captured by forward hooks during a normal forward pass, turned into per-head scores.

Hooks on the projections work whatever attention kernel the model uses (eager, SDPA): Hugging Face's
``output_attentions`` gives softmax probabilities, and only from eager attention, while TinyBERT's
loss compares the scores before the softmax. Gradients flow through the captured outputs.
"""

from __future__ import annotations

import math

import torch

from ..families import attribute, family


def attention_projections(model) -> tuple[list[tuple[torch.nn.Module, torch.nn.Module]], int]:
    """(query module, key module) of every layer, and the number of heads (where: the model's family)."""
    kind = family(model)
    query, key, _ = kind.projections
    attentions = [attribute(layer, kind.self_attention) for layer in kind.layer_list(model)]
    return [(getattr(one, query), getattr(one, key)) for one in attentions], getattr(model.config, kind.heads)


class AttentionTap:
    """``with AttentionTap(model, layers) as tap: model(...)``; then ``tap.scores(i)`` is layer i's
    (batch, heads, query, key) attention scores, query . key / sqrt(head size)."""

    def __init__(self, model, layers):
        self.pairs, self.heads = attention_projections(model)
        self.layers = sorted(set(layers))
        self.outputs: dict[tuple[int, str], torch.Tensor] = {}
        self.handles = []

    def __enter__(self):
        for layer in self.layers:
            query, key = self.pairs[layer]
            self.handles.append(query.register_forward_hook(self._keep(layer, "query")))
            self.handles.append(key.register_forward_hook(self._keep(layer, "key")))
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _keep(self, layer: int, kind: str):
        def hook(_module, _inputs, output):
            self.outputs[layer, kind] = output
        return hook

    def scores(self, layer: int) -> torch.Tensor:
        query, key = self._split(self.outputs[layer, "query"]), self._split(self.outputs[layer, "key"])
        return query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1])

    def _split(self, states: torch.Tensor) -> torch.Tensor:
        batch, length, width = states.shape
        return states.view(batch, length, self.heads, width // self.heads).transpose(1, 2)
