"""What every training stage of one run shares: the run folder, the seed, the token length, the threads
and the cache. One object, built once from the recipe (`RunContext.of`), instead of the same scalars
passed positionally, with their defaults restated, through every stage's signature.

Importing this module imports no torch: the CLI builds a context before any stage loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import DataConfig, Recipe
from .layout import RunLayout


def _default(config, field: str):
    return config.model_fields[field].default


@dataclass(frozen=True)
class RunContext:
    """``layout``: the run folder every stage writes into (checkpoints in ``layout.checkpoints``);
    ``seed``: every split, shuffle and initialisation; ``max_length``: the token length the models are
    trained and judged at (the recipe's ``data.max_length``); ``threads``: torch's CPU threads (None:
    torch's choice); ``cache_dir``: fine-tuned teachers and general students, shared between runs."""

    layout: RunLayout
    seed: int = _default(Recipe, "seed")
    max_length: int = _default(DataConfig, "max_length")
    threads: int | None = None
    cache_dir: Path | None = Path(_default(Recipe, "cache_dir"))

    @classmethod
    def of(cls, recipe: Recipe) -> RunContext:
        return cls(layout=RunLayout(Path(recipe.output_dir)), seed=recipe.seed, max_length=recipe.data.max_length,
                   threads=recipe.threads, cache_dir=Path(recipe.cache_dir))

    @classmethod
    def at(cls, root: Path, **values) -> RunContext:
        """A context for the run folder ``root``, the recipe's defaults for what ``values`` leaves out."""
        return cls(layout=RunLayout(Path(root)), **values)

    @property
    def checkpoints(self) -> Path:
        """Trainer checkpoints, one folder per stage and settings hash: where long training resumes."""
        return self.layout.checkpoints
