"""The registry itself: which target packages exist, and the lists made from them (see the package docstring)."""

from __future__ import annotations

import importlib

from .base import DeclaredInput, Target

# One line per target: the name of its package in this folder, in the order reports list them.
_REGISTERED = ("onnx", "tflite", "coreml", "executorch")

TARGETS: dict[str, Target] = {
    target.name: target for target in (importlib.import_module(f".{package}", __package__).TARGET for package in _REGISTERED)
}
TARGET_NAMES: tuple[str, ...] = tuple(TARGETS)


def get_target(name: str) -> Target:
    """The registered target called ``name``; an unknown name is an error that lists the known ones."""
    from ..errors import ConfigError

    if name not in TARGETS:
        raise ConfigError(f"target {name!r} is unknown; targets: {', '.join(TARGETS)}", fields=("target",))
    return TARGETS[name]


def supported_pairs() -> list[tuple[str, str]]:
    """Every (target, precision) pair some exporter makes, in registry order."""
    return [(target.name, precision) for target in TARGETS.values() for precision in target.precisions]


def docs_table() -> str:
    """The table of targets in docs/export.md, made from the registry (a test keeps the page in step)."""
    rows = ["| target | precisions | runtime that checks it here | per-layer comparison, auto-fallback (keep_float names) |",
            "| --- | --- | --- | --- |"]
    for target in TARGETS.values():
        layers = target.keep_float_names if target.layer_comparison else "no"
        rows.append(f"| {target.name} | {', '.join(target.precisions)} | {target.runtime} | {layers} |")
    return "\n".join(rows)


__all__ = ["TARGETS", "TARGET_NAMES", "DeclaredInput", "Target", "docs_table", "get_target", "supported_pairs"]
