"""Which runner opens a folder: an artifact's target's, or the PyTorch reference's."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..manifest import read_manifest
from ..layout import HF_CONFIG, MANIFEST
from ..targets import TARGETS
from .base import Runner
from .torch import TorchRunner


def load_runner(folder: str | Path, threads: int | None = None, seq_len: int = 128) -> Runner:
    """A runner for an artifact folder (manifest.json) or, as the reference, a HF model folder.

    ``seq_len`` applies to the reference only; artifacts carry their own in the manifest. An
    artifact whose runtime cannot run on this system raises `ModelError` saying so.
    """
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        manifest = read_manifest(folder)
        target = TARGETS.get(manifest.target)
        if target is None:
            raise ModelError(f"{folder}: no runner for target {manifest.target!r} here (targets: {', '.join(TARGETS)})")
        if not target.runs_here():
            raise ModelError(f"{folder}: {target.why_not_here()}; run bench there, or use the spec checks made at export")
        return target.load("runner")(folder, manifest, threads)
    if (folder / HF_CONFIG).is_file():
        return TorchRunner(folder, threads, seq_len)
    raise ModelError(f"{folder}: neither an artifact folder ({MANIFEST}) nor a Hugging Face model folder (config.json)")


__all__ = ["Runner", "load_runner"]
