"""Feed-forward neuron pruning: the same recipe as head pruning (heads.py), one level finer. Each
layer's feed-forward block is two linears with an activation between; a neuron is one unit of that
inner width (a row of the first linear, a column of the second). Its importance is the mean
|dL/d gate| of a gate on its activation, and a layer keeps its most important ``1 - fraction``.

The FFN holds two thirds of a BERT layer's weights and matrix multiplies, so this is where
structured pruning saves most. The checkpoint records the inner width each layer kept in
config.json (``pruned_ffn``: {layer: width}); `heads.load_pruned` rebuilds that shape too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..families import attribute, family
from .gates import InputGates, gate_gradients

PRUNED_FFN = "pruned_ffn"  # config.json key: {layer: inner width kept}


@dataclass
class FeedForward:
    """One layer's feed-forward block: ``first`` widens, ``second`` narrows back."""

    parent_in: nn.Module
    name_in: str
    parent_out: nn.Module
    name_out: str

    @property
    def first(self) -> nn.Linear:
        return getattr(self.parent_in, self.name_in)

    @property
    def second(self) -> nn.Linear:
        return getattr(self.parent_out, self.name_out)

    @property
    def width(self) -> int:
        return self.first.out_features


def feed_forward_layers(model: nn.Module) -> list[FeedForward]:
    kind = family(model)
    if kind.feed_forward is None:
        raise ConfigError(f"feed-forward pruning does not apply to {kind.model_type} models: {kind.not_prunable}")
    (parent_in, name_in), (parent_out, name_out) = kind.feed_forward
    return [FeedForward(attribute(layer, parent_in), name_in, attribute(layer, parent_out), name_out)
            for layer in kind.layer_list(model)]


class NeuronGates(InputGates):
    """Multiplies each feed-forward neuron's activation by a gate (1 = untouched)."""

    def __init__(self, model: nn.Module, requires_grad: bool = False):
        layers = feed_forward_layers(model)
        super().__init__([layer.second for layer in layers], [layer.width for layer in layers], [1] * len(layers),
                         requires_grad)


def neuron_importance(model: nn.Module, batches: Iterable[dict]) -> list[torch.Tensor]:
    """Per layer, the mean |dL/d gate| of each feed-forward neuron over labelled ``batches``."""
    return gate_gradients(model, NeuronGates(model, requires_grad=True), batches)


def neurons_to_keep(scores: list[torch.Tensor], fraction: float) -> dict[int, list[int]]:
    """Per layer, the indices of the ``1 - fraction`` most important neurons (at least one), in order."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"prune fraction {fraction}: give a value in [0, 1)", fields=("fraction",))
    keep = {}
    for layer, layer_scores in enumerate(scores):
        count = max(1, round((1 - fraction) * len(layer_scores)))
        keep[layer] = sorted(torch.topk(layer_scores, count).indices.tolist())
    return keep


def prune_neurons(model: nn.Module, keep: dict[int, list[int]]) -> nn.Module:
    """Keep only the ``keep`` neurons ({layer: indices}) of each feed-forward block, in place, and
    record each layer's inner width in ``model.config.pruned_ffn``."""
    from transformers.pytorch_utils import prune_linear_layer

    layers = feed_forward_layers(model)
    recorded = {int(k): int(v) for k, v in (getattr(model.config, PRUNED_FFN, None) or {}).items()}
    for layer_index, indices in keep.items():
        layer = layers[int(layer_index)]
        indices = sorted(set(indices))
        if not indices or indices[0] < 0 or indices[-1] >= layer.width:
            raise ConfigError(f"layer {layer_index} has {layer.width} feed-forward neurons; cannot keep {indices[:5]}...")
        index = torch.tensor(indices)
        setattr(layer.parent_in, layer.name_in, prune_linear_layer(layer.first, index, dim=0))
        setattr(layer.parent_out, layer.name_out, prune_linear_layer(layer.second, index, dim=1))
        recorded[int(layer_index)] = len(indices)
    setattr(model.config, PRUNED_FFN, {str(k): v for k, v in sorted(recorded.items())})
    return model


def remaining_neurons(model: nn.Module) -> list[int]:
    return [layer.width for layer in feed_forward_layers(model)]
