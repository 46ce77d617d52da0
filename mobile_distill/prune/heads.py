"""Attention-head pruning: score every head by how much the loss depends on it, remove the least
important ones from the weights (smaller matrices, fewer FLOPs in every exported format), and save
a checkpoint that loads back with its pruned shape.

Scores are Michel et al. (2019, "Are Sixteen Heads Really Better than One?"): a gate of 1 on each
head's output, and the importance of a head is the mean |dL/d gate| over labelled batches,
normalised per layer. Written here because transformers 5 dropped `prune_heads` and the head mask
argument; the gate is a forward pre-hook on each layer's attention output projection, whose input
is the heads' outputs side by side, and removal uses transformers' own `prune_linear_layer`.

A pruned checkpoint records the removed heads in its config.json as ``pruned_heads`` ({layer:
[original head indices]}); `load_pruned` builds the model from its config, removes the same heads,
then loads the safetensors weights, strictly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, ModelError
from ..families import attribute, family
from .gates import InputGates, gate_gradients

PRUNED_HEADS = "pruned_heads"  # config.json key


@dataclass
class Attention:
    """One layer's self-attention, whatever the model family calls its parts."""

    module: nn.Module  # holds the head count and the q/k/v projections
    projections: tuple[str, str, str]
    heads_attribute: str
    output_parent: nn.Module
    output_name: str

    @property
    def heads(self) -> int:
        return getattr(self.module, self.heads_attribute)

    @property
    def head_size(self) -> int:
        return self.module.attention_head_size

    @property
    def output(self) -> nn.Linear:
        return getattr(self.output_parent, self.output_name)


def attention_layers(model: nn.Module) -> list[Attention]:
    """The self-attention of every layer of a prunable classifier (its family says where), in order."""
    kind = family(model)
    if not kind.prunable:
        raise ConfigError(f"head pruning does not apply to {kind.model_type} models: {kind.not_prunable}")
    parent, name = kind.attention_output
    return [Attention(attribute(layer, kind.self_attention), kind.projections, kind.heads, attribute(layer, parent), name)
            for layer in kind.layer_list(model)]


class HeadGates(InputGates):
    """Multiplies each head's output by a gate (1 = untouched), for scoring or for masking heads."""

    def __init__(self, model: nn.Module, requires_grad: bool = False):
        layers = attention_layers(model)
        super().__init__([layer.output for layer in layers], [layer.heads for layer in layers],
                         [layer.head_size for layer in layers], requires_grad)


def head_importance(model: nn.Module, batches: Iterable[dict]) -> list[torch.Tensor]:
    """Per layer, the importance of each head (Michel et al.): mean |dL/d gate|, each layer's scores
    divided by their L2 norm so layers compare. ``batches`` hold the model's inputs and ``labels``."""
    scores = gate_gradients(model, HeadGates(model, requires_grad=True), batches)
    return [score / (score.norm() + 1e-12) for score in scores]


def heads_to_prune(scores: list[torch.Tensor], fraction: float, keep_per_layer: int = 1) -> dict[int, list[int]]:
    """The ``fraction`` of all heads with the lowest scores, never more than leaves ``keep_per_layer``
    in a layer (a layer without heads has no attention at all)."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"prune fraction {fraction}: give a value in [0, 1)", fields=("fraction",))
    ranked = sorted((float(score), layer, head) for layer, layer_scores in enumerate(scores)
                    for head, score in enumerate(layer_scores))
    budget = round(fraction * len(ranked))
    chosen: dict[int, list[int]] = {}
    for _, layer, head in ranked:
        if sum(map(len, chosen.values())) >= budget:
            break
        if len(scores[layer]) - len(chosen.get(layer, [])) > keep_per_layer:
            chosen.setdefault(layer, []).append(head)
    return {layer: sorted(heads) for layer, heads in sorted(chosen.items())}


def prune_heads(model: nn.Module, heads: dict[int, list[int]]) -> nn.Module:
    """Remove ``heads`` ({layer: [head indices as the layer has them now]}) from the weights, in place,
    and record them (in original numbering) in ``model.config.pruned_heads``."""
    from transformers.pytorch_utils import prune_linear_layer

    layers = attention_layers(model)
    recorded = {int(k): list(v) for k, v in (getattr(model.config, PRUNED_HEADS, None) or {}).items()}
    for layer_index, remove in heads.items():
        layer = layers[int(layer_index)]
        remove = sorted(set(remove))
        if not remove:
            continue
        if any(h < 0 or h >= layer.heads for h in remove) or len(remove) >= layer.heads:
            raise ConfigError(f"layer {layer_index} has {layer.heads} heads; cannot remove {remove} (keep at least one)")
        keep = [h for h in range(layer.heads) if h not in remove]
        index = torch.cat([torch.arange(h * layer.head_size, (h + 1) * layer.head_size) for h in keep])
        for name in layer.projections:
            setattr(layer.module, name, prune_linear_layer(getattr(layer.module, name), index, dim=0))
        setattr(layer.output_parent, layer.output_name, prune_linear_layer(layer.output, index, dim=1))
        original = [h for h in range(layer.heads + len(recorded.get(int(layer_index), [])))
                    if h not in recorded.get(int(layer_index), [])]  # current position -> original head
        recorded[int(layer_index)] = sorted(recorded.get(int(layer_index), []) + [original[h] for h in remove])
        setattr(layer.module, layer.heads_attribute, len(keep))
        if hasattr(layer.module, "all_head_size"):
            layer.module.all_head_size = len(keep) * layer.head_size
    setattr(model.config, PRUNED_HEADS, {str(k): v for k, v in sorted(recorded.items()) if v})
    return model


def load_pruned(path: Path, config) -> nn.Module:
    """A checkpoint saved after `prune_heads` or `neurons.prune_neurons`: the model of its config with
    the recorded heads removed and feed-forward widths cut, then its safetensors weights (strict)."""
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    from .neurons import PRUNED_FFN, prune_neurons

    heads = {int(k): v for k, v in (getattr(config, PRUNED_HEADS, None) or {}).items()}
    widths = {int(k): int(v) for k, v in (getattr(config, PRUNED_FFN, None) or {}).items()}
    setattr(config, PRUNED_HEADS, {})
    setattr(config, PRUNED_FFN, {})
    model = AutoModelForSequenceClassification.from_config(config)
    prune_heads(model, heads)
    prune_neurons(model, {layer: list(range(width)) for layer, width in widths.items()})  # the shape; weights follow
    state = {}
    for file in sorted(Path(path).glob("*.safetensors")):
        state.update(load_file(file))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelError(f"{path}: weights do not fit the pruned shape its config.json records: "
                         f"{str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else error}") from None
    return model.eval()


def remaining_heads(model: nn.Module) -> list[int]:
    return [layer.heads for layer in attention_layers(model)]
