"""Pruning stage: structured removal of what a model needs least: attention heads (heads.py) and
feed-forward neurons (neurons.py)."""

from .heads import head_importance, heads_to_prune, load_pruned, prune_heads, remaining_heads
from .neurons import neuron_importance, neurons_to_keep, prune_neurons, remaining_neurons

__all__ = ["head_importance", "heads_to_prune", "load_pruned", "neuron_importance", "neurons_to_keep", "prune_heads",
           "prune_neurons", "remaining_heads", "remaining_neurons"]
