"""One runner interface for every format: ``load_runner(folder).predict(texts or batch) -> logits``.

Bench, the gates and diagnosis are written once against `Runner`. Each runner tokenizes with the
tokenizer files bundled in the artifact (never the reference's), so a tokenizer mismatch shows
up in the numbers instead of being papered over.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from ..export.artifact import MANIFEST, read_manifest
from .base import Runner
from .coreml import CoremlRunner
from .executorch import ExecutorchRunner
from .onnx import OnnxRunner
from .tflite import TfliteRunner
from .torch import TorchRunner

RUNNERS: dict[str, type[Runner]] = {"onnx": OnnxRunner, "tflite": TfliteRunner, "coreml": CoremlRunner,
                                     "executorch": ExecutorchRunner}


def load_runner(folder: str | Path, threads: int | None = None, seq_len: int = 128) -> Runner:
    """A runner for an artifact folder (manifest.json) or, as the reference, a HF model folder.

    ``seq_len`` applies to the reference only; artifacts carry their own in the manifest.
    """
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        manifest = read_manifest(folder)
        if manifest.target not in RUNNERS:
            raise ModelError(f"{folder}: no runner for target {manifest.target!r} here (runners: {', '.join(RUNNERS)})")
        return RUNNERS[manifest.target](folder, manifest, threads)
    if (folder / "config.json").is_file():
        return TorchRunner(folder, threads, seq_len)
    raise ModelError(f"{folder}: neither an artifact folder ({MANIFEST}) nor a Hugging Face model folder (config.json)")


__all__ = ["RUNNERS", "Runner", "load_runner"]
