"""The target registry: one `Target` per export format, declared in a module of its own here.

A target brings together everything the pipeline needs to know about one format: its exporter,
the precisions it makes, the runner that checks it in its own runtime, how to read the inputs the
model file itself declares, its per-layer comparison (which also makes auto-fallback possible),
where its runtime runs, and which precisions compute in fp16. The config's choices, the CLI's
choices, export's dispatch, bench's runner, diagnose's dispatch, the docs table and the test
parametrisation are all derived from `TARGETS`; a test fails when a target lacks a part.

A new target is one module in this folder (a `Target` plus its declared-input reader) and one
line in `_REGISTERED` below. Nothing heavy is imported here: implementations are named as
``"module:attribute"`` and imported when first used, so ``mobile-distill --help`` stays fast.
"""

from __future__ import annotations

from . import coreml, executorch, onnx, tflite
from .base import DeclaredInput, Target

_REGISTERED = (onnx.TARGET, tflite.TARGET, coreml.TARGET, executorch.TARGET)

TARGETS: dict[str, Target] = {target.name: target for target in _REGISTERED}
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
    """The README's table of targets, made from the registry (a test keeps the README in step)."""
    rows = ["| target | precisions | runtime that checks it here | per-layer comparison, auto-fallback (keep_float names) |",
            "| --- | --- | --- | --- |"]
    for target in TARGETS.values():
        layers = target.keep_float_names if target.layer_comparison else "no"
        rows.append(f"| {target.name} | {', '.join(target.precisions)} | {target.runtime} | {layers} |")
    return "\n".join(rows)


__all__ = ["TARGETS", "TARGET_NAMES", "DeclaredInput", "Target", "docs_table", "get_target", "supported_pairs"]
