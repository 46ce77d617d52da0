"""LiteRT runner: ai-edge-litert's Interpreter (no TensorFlow), through the model's signature, opened with the
settings bench times (timing.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...manifest import Manifest
from .target import SIGNATURE, TARGET
from .timing import open_interpreter
from ...runners.base import ArtifactRunner


class TfliteRunner(ArtifactRunner):
    target = TARGET.name
    max_batch = 1  # shapes are static: batch 1 at the exported sequence length

    def __init__(self, folder: Path, manifest: Manifest, threads: int | None = None):
        super().__init__(folder, manifest, threads)
        self.interpreter = open_interpreter(folder / manifest.model_file, threads)
        self.signature = self.interpreter.get_signature_runner(SIGNATURE)
        self.output_name = manifest.output.name

    def encode(self, texts, pad_to_length: bool = True):
        # The exported graph always has token_type_ids (MediaPipe needs three inputs); DistilBERT ignores it.
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.seq_len, padding="max_length",
                                 return_token_type_ids=True, return_tensors="np")
        return {name: encoded[name] for name in self.input_names}

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.signature(**batch)[self.output_name]
