"""The artifact folder: the contract between export, bench, diagnose and the apps. On the ground floor:
imports neither torch nor transformers, so every stage reads it without loading a model library.

    model.<ext>              the exported model
    manifest.json            what the model takes and gives, and how it was made (`Manifest`)
    tokenizer.json, tokenizer_config.json, vocab.txt   the tokenizer, as files an app can read
    labels.txt               one label per line, in logit order
    tokenizer_golden.json    texts with the ids the reference tokenizer gives them
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ModelError
from .layout import MANIFEST

MANIFEST_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Frozen):
    name: str
    dtype: Literal["int32", "int64", "float32", "float16"]
    shape: tuple[int | str, ...]  # ints are fixed; strings name a dynamic axis ("batch", "sequence")


class TokenizerSpec(_Frozen):
    kind: str  # e.g. "wordpiece"
    lower_case: bool
    strip_accents: bool | None
    max_length: int
    padding_side: str
    truncation_side: str
    special_tokens: dict[str, str]
    special_token_ids: dict[str, int]
    files: tuple[str, ...]
    sha256: str  # of tokenizer.json: bench compares it with the reference tokenizer's


class Manifest(_Frozen):
    manifest_version: int = MANIFEST_VERSION
    target: str
    precision: str
    model_file: str
    # SHA-256 of model_file as the export wrote it (`hashing.content_sha256`): bench and diagnose check
    # it first, so a file replaced or edited since is named as such. None in artifacts made before 2026-12.
    model_sha256: str | None = None
    inputs: tuple[TensorSpec, ...]
    output: TensorSpec
    output_meaning: str = "logits: unnormalised class scores, one per label in labels.txt order"
    sequence_length: int  # static targets accept exactly this; ONNX records its export length
    static_shapes: bool
    labels: tuple[str, ...]
    tokenizer: TokenizerSpec
    source: dict  # path, hash and model_type of the checkpoint it was exported from
    quantization: dict  # scheme details (weight type, per-channel, calibration rows, ...)
    # how the graph was built (ONNX: "form" fused or plain and why) and the operator domains, opset versions
    # and operators its nodes use, which an ONNX Runtime Mobile build must include
    graph: dict | None = None
    options: dict | None = None  # the ExportOptions it was made with (lets a rerun reuse it)
    tool_versions: dict[str, str]
    export_seconds: float
    created_at: str


def write_manifest(folder: Path, manifest: Manifest) -> None:
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelError(f"{folder}: not an artifact folder (no {MANIFEST}); make one with `mobile-distill export`")
    try:
        return Manifest.model_validate_json(path.read_text())
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelError(f"{path}: invalid manifest: {where}: {first['msg']}") from None
