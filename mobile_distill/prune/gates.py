"""What head and neuron pruning share: a gate of ones on groups of a linear layer's input features,
and the mean |dL/d gate| over labelled batches (Michel et al. 2019's importance)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..errors import ConfigError


class InputGates:
    """Multiplies the input of each of ``linears`` by its gate, one gate value per ``group`` consecutive
    input features (an attention head's outputs side by side, or one feed-forward neuron); 1 = untouched."""

    def __init__(self, linears: list[nn.Module], sizes: list[int], groups: list[int], requires_grad: bool = False):
        self.linears, self.groups = linears, groups
        self.gates = [torch.ones(size, requires_grad=requires_grad) for size in sizes]
        self._handles = []

    def __enter__(self):
        for linear, gate, group in zip(self.linears, self.gates, self.groups):
            def scale(_module, args, gate=gate, group=group):
                return (args[0] * gate.repeat_interleave(group).to(args[0].dtype),) + tuple(args[1:])

            self._handles.append(linear.register_forward_pre_hook(scale))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def gate_gradients(model: nn.Module, gates: InputGates, batches: Iterable[dict]) -> list[torch.Tensor]:
    """Per gated layer, the mean |dL/d gate| over ``batches`` (the model's inputs and ``labels``), in
    eval mode: the score is of the model, not of a random sub-network dropout picks."""
    model.eval()
    with gates:
        totals = [torch.zeros_like(gate) for gate in gates.gates]
        count = 0
        for batch in batches:
            for total, grad in zip(totals, torch.autograd.grad(model(**batch).loss, gates.gates)):
                total += grad.abs().detach()
            count += 1
    if not count:
        raise ConfigError("pruning importance needs at least one labelled batch")
    return [total / count for total in totals]
