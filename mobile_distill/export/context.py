"""What every exporter receives (`ExportContext`) and returns (`ExportedModel`), and its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from .artifact import TensorSpec
from .wrapper import ClassifierWrapper, sample_batch


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq_len: int = Field(128, ge=8, le=4096, description="sequence length (static targets accept only this)")
    # Defaults by measurement (benchmarks/onnx_int8_schemes.py, demo student, 854 test rows): agreement
    # with PyTorch 0.978 qint8/per-tensor, 0.988 qint8/per-channel, 0.987 quint8/per-tensor,
    # 0.993 quint8/per-channel.
    onnx_weight_type: Literal["qint8", "quint8"] = Field(
        "quint8", description="ONNX int8-dynamic weight type (signed vs unsigned changes accuracy: onnxruntime #5644)")
    per_channel: bool = Field(True, description="per-channel (vs per-tensor) int8 weight scales")
    calibration_size: int = Field(200, ge=1, description="texts used to calibrate static int8")


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
