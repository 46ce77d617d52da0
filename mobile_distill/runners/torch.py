"""The PyTorch reference: a Hugging Face model folder run as is, through the same interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..families import family
from ..models import forward_inputs, load_classifier, read_labels
from ..runtime import torch_threads
from .base import Runner


class TorchRunner(Runner):
    target = "torch"

    def __init__(self, folder: Path, threads: int | None = None, seq_len: int = 128):
        self.model = load_classifier(folder).eval()
        names = [name for name in ("input_ids", "attention_mask", "token_type_ids")
                 if name in forward_inputs(self.model, dict.fromkeys(["input_ids", "attention_mask", "token_type_ids"]))]
        super().__init__(folder, names, seq_len, False, dict.fromkeys(names, "int64"), tuple(read_labels(folder)))
        self.threads = threads

    def encode(self, texts: list[str], pad_to_length: bool = False) -> dict[str, np.ndarray]:
        """A padding-sensitive model (`Family.padding_sensitive`) is run padded to the full length, as its
        exported files are, so the reference is the logits the phone should reproduce."""
        sensitive = family(self.model).padding_sensitive
        return super().encode(texts, pad_to_length=pad_to_length or sensitive)

    def declared_inputs(self):
        from ..targets import DeclaredInput

        return [DeclaredInput(name, "int64", ("batch", "sequence")) for name in self.input_names]

    def _run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch_threads(self.threads), torch.inference_mode():
            tensors = {name: torch.from_numpy(array) for name, array in batch.items()}
            return self.model(**tensors).logits.float().numpy()
