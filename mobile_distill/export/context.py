"""What every exporter receives (`ExportContext`) and returns (`ExportedModel`), and its options."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..config import ExportOptions
from ..manifest import TensorSpec
from .wrapper import ClassifierWrapper, sample_batch


@dataclass
class ExportContext:
    target: str
    precision: str
    wrapper: ClassifierWrapper
    tokenizer: object
    labels: tuple[str, ...]
    options: ExportOptions
    texts: list[str] = field(default_factory=list)  # real texts: sample batch, calibration, golden file

    @property
    def input_names(self) -> list[str]:
        return self.wrapper.input_names

    def encode(self, texts: list[str], dtype: torch.dtype) -> dict[str, torch.Tensor]:
        batch = sample_batch(self.tokenizer, texts, self.options.seq_len, self.input_names)
        return {name: tensor.to(dtype) for name, tensor in batch.items()}

    def sample_texts(self, count: int = 2) -> list[str]:
        """Real texts of different lengths (shortest first), so a padded sample has a mask that matters."""
        texts = sorted(self.texts[:16], key=len) or ["a fine film", "a dull and overlong one"]
        return [texts[0], texts[-1]][:count]

    def sample_inputs(self, dtype: torch.dtype, batch_size: int = 2) -> dict[str, torch.Tensor]:
        return self.encode(self.sample_texts(batch_size), dtype)

    def calibration_texts(self) -> list[str]:
        """Training texts to calibrate on (`export` refuses static int8 without any, before any work)."""
        return self.texts[: self.options.calibration_size]


@dataclass(frozen=True)
class ExportedModel:
    model_file: str
    inputs: tuple[TensorSpec, ...]
    output: TensorSpec
    static_shapes: bool
    quantization: dict
    graph: dict | None = None  # how the graph was built and which operator sets it needs (ONNX)
