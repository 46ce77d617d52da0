"""Writing an artifact folder's files besides the model (the contract they follow is
`mobile_distill.manifest`): the tokenizer as files an app can read, labels.txt, and the versions of the
tools that made it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from ..hashing import file_sha256
from ..layout import LABELS_TXT, TOKENIZER_CONFIG, TOKENIZER_JSON, VOCAB_TXT
from ..manifest import TokenizerSpec

_TOOLS = ("mobile-distill", "torch", "transformers", "tokenizers")  # and every registered target's packages


def tool_versions() -> dict[str, str]:
    from ..targets import TARGETS

    versions = {}
    for name in dict.fromkeys(_TOOLS + tuple(package for target in TARGETS.values() for package in target.packages)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


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
