"""Pruning stage: structured removal of what a model needs least (attention heads so far)."""

from .heads import head_importance, heads_to_prune, load_pruned, prune_heads, remaining_heads

__all__ = ["head_importance", "heads_to_prune", "load_pruned", "prune_heads", "remaining_heads"]
