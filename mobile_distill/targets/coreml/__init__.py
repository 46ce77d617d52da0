"""The coreml target: its declaration (target.py), exporter (export.py), runner (runner.py)."""

from .target import TARGET

__all__ = ["TARGET"]
