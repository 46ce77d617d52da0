"""Data stage: read labelled text, check it, split it reproducibly, and tokenize it."""

from .encoding import TokenizedSplit, collator_for, tokenize_split
from .prepare import SPLITS, PreparedData, load_data, load_transfer_texts
from .sources import BUILTIN_DATASETS

__all__ = [
    "BUILTIN_DATASETS",
    "SPLITS",
    "PreparedData",
    "TokenizedSplit",
    "collator_for",
    "load_data",
    "load_transfer_texts",
    "tokenize_split",
]
