"""The executorch target: its declaration (target.py), exporter (export.py), runner (runner.py), per-layer comparison (layers.py)."""

from .target import TARGET

__all__ = ["TARGET"]
