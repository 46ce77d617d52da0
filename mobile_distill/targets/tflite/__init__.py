"""The tflite target: its declaration (target.py), exporter (export.py), runner (runner.py), per-layer comparison (layers.py) and the TFLite metadata writer (metadata.py)."""

from .target import TARGET

__all__ = ["TARGET"]
