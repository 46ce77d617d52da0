"""The runner interface: tokenise with the artifact's own tokenizer, shape inputs as its manifest
says, run, return float32 logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..models import load_tokenizer

_NUMPY_DTYPES = {"int32": np.int32, "int64": np.int64}


class Runner:
    """``predict(texts)`` or ``predict({name: array})`` -> logits of shape (rows, labels)."""

    target = "?"
    max_batch: int | None = None  # static-shape formats run one row at a time

    def __init__(self, folder: Path, input_names: list[str], seq_len: int, static: bool, dtypes: dict[str, str],
                 labels: tuple[str, ...]):
        self.folder = folder
        self.input_names = input_names
        self.seq_len = seq_len
        self.static = static
        self.dtypes = dtypes
        self.labels = labels
        self.tokenizer = load_tokenizer(folder)

    def encode(self, texts: list[str], pad_to_length: bool = False) -> dict[str, np.ndarray]:
        """Tokenise as the artifact expects: padded to its fixed length, or to the longest text
        (``pad_to_length``: to the full sequence length anyway, e.g. to time every format alike)."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.seq_len,
                                 padding="max_length" if self.static or pad_to_length else "longest",
                                 return_token_type_ids="token_type_ids" in self.input_names, return_tensors="np")
        return {name: encoded[name] for name in self.input_names}

    def predict(self, inputs, batch_size: int = 32) -> np.ndarray:
        batch = self.encode(inputs) if isinstance(inputs, (list, tuple)) else dict(inputs)
        self._check(batch)
        step = min(batch_size, self.max_batch or batch_size)
        rows = len(batch[self.input_names[0]])
        chunks = [self._run({name: batch[name][i : i + step].astype(_NUMPY_DTYPES[self.dtypes[name]])
                             for name in self.input_names}) for i in range(0, rows, step)]
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, len(self.labels)), np.float32)

    def _check(self, batch: dict[str, np.ndarray]) -> None:
        missing = [name for name in self.input_names if name not in batch]
        if missing:
            raise ModelError(f"{self.folder}: batch lacks input(s) {', '.join(missing)}; the model takes {self.input_names}")
        length = batch[self.input_names[0]].shape[1]
        if self.static and length != self.seq_len:
            raise ModelError(f"{self.folder}: this {self.target} model was exported for exactly {self.seq_len} tokens, "
                             f"got {length}; pad to {self.seq_len} or export that length")
        if length > self.seq_len and not self.static:
            raise ModelError(f"{self.folder}: {length} tokens is over the exported maximum of {self.seq_len}")

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def declared_inputs(self) -> list:
        """`DeclaredInput` (name, dtype, shape) of each input in the order the file itself declares
        them; a name is None where the format stores none (ExecuTorch). Bench checks these against
        the manifest."""
        raise NotImplementedError


class ArtifactRunner(Runner):
    """A runner for an exported artifact: inputs, dtypes and shapes come from its manifest."""

    def __init__(self, folder: Path, manifest, threads: int | None = None):
        super().__init__(folder, [spec.name for spec in manifest.inputs], manifest.sequence_length,
                         manifest.static_shapes, {spec.name: spec.dtype for spec in manifest.inputs}, manifest.labels)
        self.manifest = manifest
        self.threads = threads

    def declared_inputs(self) -> list:
        """Read from the model file by the target's own reader (the same one diagnose uses)."""
        from ..targets import TARGETS

        return TARGETS[self.manifest.target].read_declared_inputs(self.folder / self.manifest.model_file)
