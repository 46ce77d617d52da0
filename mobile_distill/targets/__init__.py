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
`_REGISTERED` in registry.py (tests/test_layout.py copies a target that way and runs it end to end).
Nothing heavy is imported here: implementations are named as ``".module:attribute"`` relative to the
target's package and imported when first used, so ``mobile-distill --help`` stays fast.
"""

from .registry import (
    TARGETS,
    TARGET_NAMES,
    DeclaredInput,
    Target,
    docs_table,
    get_target,
    supported_pairs,
)

__all__ = ["TARGETS", "TARGET_NAMES", "DeclaredInput", "Target", "docs_table", "get_target", "supported_pairs"]
