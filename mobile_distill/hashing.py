"""One way to fingerprint things: settings (for checkpoint folders, caches, "already done" marks),
model folders (the exact checkpoint an artifact came from) and files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .layout import HF_CONFIG

SETTINGS_HASH_LENGTH = 16


def settings_hash(*parts) -> str:
    """A short stable hash of JSON-serialisable ``parts`` (key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:SETTINGS_HASH_LENGTH]


def made_with(log: Path, settings: str) -> bool:
    """The "already done" mark: ``log`` exists and records ``settings`` (a `settings_hash`) as those its
    output was made with."""
    return log.is_file() and json.loads(log.read_text()).get("settings") == settings


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(path: Path) -> str:
    """SHA-256 of a model file, or of a model that is a folder (Core ML's .mlpackage): its files'
    relative paths and contents, in sorted order."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(item for item in path.rglob("*") if item.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def folder_hash(path: Path) -> str:
    """Hash of a model folder's config and weights: identifies the exact checkpoint."""
    digest = hashlib.sha256()
    for file in sorted([Path(path) / HF_CONFIG, *Path(path).glob("*.safetensors")]):
        digest.update(file.name.encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()[:SETTINGS_HASH_LENGTH]
