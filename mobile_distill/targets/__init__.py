"""The target registry: one `Target` per export format, each in a package of its own here.

A target brings together everything the pipeline needs to know about one format: its exporter,
the precisions it makes, the runner that checks it in its own runtime, how to read the inputs the
model file itself declares, its per-layer comparison (which also makes auto-fallback possible),
where its runtime runs, and which precisions compute in fp16. The config's choices, the CLI's
choices, export's dispatch, bench's runner, diagnose's dispatch, the docs table and the test
parametrisation are all derived from `TARGETS`; a test fails when a target lacks a part.

A target's package holds everything only it uses: ``target.py`` (its `Target` and the reader of the
inputs its model file declares), ``export.py``, ``runner.py`` and, where it has one, ``layers.py``
(the per-layer comparison). A new target is one package in this folder and one line in
`_REGISTERED` below (tests/test_layout.py copies a target that way and runs it end to end). Nothing
heavy is imported here: implementations are named as ``".module:attribute"`` relative to the
target's package and imported when first used, so ``mobile-distill --help`` stays fast.
"""

from __future__ import annotations

import importlib

from .base import DeclaredInput, Target

# One line per target: the name of its package in this folder, in the order reports list them.
_REGISTERED = ("onnx", "tflite", "coreml", "executorch")

TARGETS: dict[str, Target] = {
    target.name: target for target in (importlib.import_module(f".{package}", __name__).TARGET for package in _REGISTERED)
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
    """The README's table of targets, made from the registry (a test keeps the README in step)."""
    rows = ["| target | precisions | runtime that checks it here | per-layer comparison, auto-fallback (keep_float names) |",
            "| --- | --- | --- | --- |"]
    for target in TARGETS.values():
        layers = target.keep_float_names if target.layer_comparison else "no"
        rows.append(f"| {target.name} | {', '.join(target.precisions)} | {target.runtime} | {layers} |")
    return "\n".join(rows)


__all__ = ["TARGETS", "TARGET_NAMES", "DeclaredInput", "Target", "docs_table", "get_target", "supported_pairs"]
