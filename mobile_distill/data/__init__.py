"""Data stage: read labelled text, check it, split it reproducibly, and tokenize it."""

from .encoding import TokenizedSplit, tokenize_split
from .prepare import SPLITS, PreparedData, load_data, load_transfer_texts
from .sources import BUILTIN_DATASETS

__all__ = [
    "BUILTIN_DATASETS",
    "SPLITS",
    "PreparedData",
    "TokenizedSplit",
    "load_data",
    "load_transfer_texts",
    "tokenize_split",
]
