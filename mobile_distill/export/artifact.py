"""The artifact folder: the contract between export, bench and the apps.

    model.<ext>              the exported model
    manifest.json            what the model takes and gives, and how it was made (schema below)
    tokenizer.json, tokenizer_config.json, vocab.txt   the tokenizer, as files an app can read
    labels.txt               one label per line, in logit order
    tokenizer_golden.json    texts with the ids the reference tokenizer gives them
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ModelError
from ..hashing import file_sha256
from ..layout import (
    LABELS_TXT,
    MANIFEST,
    TOKENIZER_CONFIG,
    TOKENIZER_JSON,
    VOCAB_TXT,
)

MANIFEST_VERSION = 1
_TOOLS = ("mobile-distill", "torch", "transformers", "tokenizers")  # and every registered target's packages


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
    inputs: tuple[TensorSpec, ...]
    output: TensorSpec
    output_meaning: str = "logits: unnormalised class scores, one per label in labels.txt order"
    sequence_length: int  # static targets accept exactly this; ONNX records its export length
    static_shapes: bool
    labels: tuple[str, ...]
    tokenizer: TokenizerSpec
    source: dict  # path, hash and model_type of the checkpoint it was exported from
    quantization: dict  # scheme details (weight type, per-channel, calibration rows, ...)
    options: dict | None = None  # the ExportOptions it was made with (lets a rerun reuse it)
    tool_versions: dict[str, str]
    export_seconds: float
    created_at: str


def tool_versions() -> dict[str, str]:
    from ..targets import TARGETS

    versions = {}
    for name in dict.fromkeys(_TOOLS + tuple(package for target in TARGETS.values() for package in target.packages)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


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


def write_vocab(tokenizer, path: Path) -> None:
    """A WordPiece vocab.txt: one token per line, line number = token id.

    An id no token has (a vocab.txt that listed a token twice leaves one: the later line wins) gets
    a placeholder no text can produce (brackets are split off as punctuation), so every later line
    stays at its id; written densely, an app's tokenizer would read every id after the gap off by one.
    """
    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    lines = [by_id.get(i, f"[unused-id-{i}]") for i in range(max(by_id) + 1 if by_id else 0)]
    path.write_text("".join(f"{token}\n" for token in lines), encoding="utf-8")


def write_tokenizer_files(folder: Path, tokenizer, max_length: int) -> TokenizerSpec:
    """Save the tokenizer as an app needs it: tokenizer.json, its config, and vocab.txt for WordPiece."""
    tokenizer.save_pretrained(folder)
    files = [TOKENIZER_JSON, TOKENIZER_CONFIG]
    kind = type(tokenizer.backend_tokenizer.model).__name__.lower() if hasattr(tokenizer, "backend_tokenizer") else "unknown"
    if kind == "wordpiece":
        write_vocab(tokenizer, folder / VOCAB_TXT)  # transformers 5 no longer writes it; mobile tokenizers read it
        files.append(VOCAB_TXT)
    special = {name: str(getattr(tokenizer, name)) for name in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token")
               if getattr(tokenizer, name, None) is not None}
    return TokenizerSpec(
        kind=kind,
        lower_case=bool(getattr(tokenizer, "do_lower_case", False)),
        strip_accents=tokenizer.init_kwargs.get("strip_accents"),
        max_length=max_length,
        padding_side=tokenizer.padding_side,
        truncation_side=tokenizer.truncation_side,
        special_tokens=special,
        special_token_ids={name: int(tokenizer.convert_tokens_to_ids(token)) for name, token in special.items()},
        files=tuple(files),
        sha256=file_sha256(folder / TOKENIZER_JSON),
    )


def write_labels_txt(folder: Path, labels) -> None:
    (folder / LABELS_TXT).write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
