"""Turn raw rows into validated train/validation/test splits with a stable label map.

The result is saved to disk with the row indices of every split, so every later stage (and
every later run: export calibration, bench, the gates) evaluates on exactly the same test rows.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.model_selection import train_test_split

from ..config import DataConfig, TransferConfig
from ..errors import DataError
from ..layout import DATA_INFO as _DATA_INFO
from ..layout import DATASET_DIR as _DATASET_DIR
from .sources import read_source

SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"train": "train", "validation": "validation", "valid": "validation", "dev": "validation", "test": "test"}


@dataclass(frozen=True)
class PreparedData:
    """Validated splits. Columns: ``text``, optional ``text_pair``, ``label`` (int id), ``row`` (source index)."""

    splits: datasets.DatasetDict
    labels: tuple[str, ...]
    info: dict

    @property
    def has_pairs(self) -> bool:
        return "text_pair" in self.splits["train"].column_names

    @property
    def fingerprint(self) -> str:
        return self.info["fingerprint"]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.splits.save_to_disk(str(folder / _DATASET_DIR))
        (folder / _DATA_INFO).write_text(json.dumps({**self.info, "labels": list(self.labels)}, indent=1))

    @classmethod
    def load(cls, folder: Path) -> "PreparedData":
        info_path = folder / _DATA_INFO
        if not info_path.is_file():
            raise DataError(f"{folder}: not a prepared data folder (no {_DATA_INFO}); run a stage that prepares data first")
        info = json.loads(info_path.read_text())
        splits = datasets.load_from_disk(str(folder / _DATASET_DIR))
        return cls(splits=splits, labels=tuple(info.pop("labels")), info=info)


def load_data(config: DataConfig, seed: int = 42) -> PreparedData:
    """Read, check and split the labelled data that ``config`` names."""
    raw_splits, label_names, source_name = _read_splits(config)
    raw_splits = {name: _select_columns(table, config, f"{source_name} [{name}]") for name, table in raw_splits.items()}
    labels = label_names or _label_values(raw_splits["train"])
    encoded = {name: _encode_labels(table, labels, label_names is not None, f"{source_name} [{name}]")
               for name, table in raw_splits.items()}
    if config.limit is not None:
        encoded = _limit(encoded, config.limit, seed)
    splits = _complete_splits(encoded, config, seed, source_name)
    _check_splits(splits, labels, source_name)
    info = {
        "source": config.source,
        "seed": seed,
        "split_fractions": config.split.model_dump(),
        "limit": config.limit,
        "sizes": {name: len(table) for name, table in splits.items()},
        "label_counts": {name: _label_counts(table, labels) for name, table in splits.items()},
        "rows": {name: [int(row) for row in table["row"]] for name, table in splits.items()},
        "fingerprint": _fingerprint(splits),
    }
    return PreparedData(splits=datasets.DatasetDict(splits), labels=tuple(labels), info=info)


def load_transfer_texts(config: TransferConfig, seed: int = 42) -> datasets.Dataset:
    """The unlabeled transfer set as one ``text`` column (a seeded sample of ``limit`` texts)."""
    raw, _ = read_source(config.source)
    if isinstance(raw, datasets.DatasetDict):
        raw = raw["train"] if "train" in raw else datasets.concatenate_datasets(list(raw.values()))
    _require_columns(raw, [config.text_column], config.source)
    table = raw.select_columns([config.text_column])
    if config.text_column != "text":
        table = table.rename_column(config.text_column, "text")
    table = _materialized(table)
    _check_text_column(table, "text", config.source)
    if config.limit is not None and config.limit < len(table):
        table = table.shuffle(seed=seed).select(range(config.limit))
    return table


def _read_splits(config: DataConfig) -> tuple[dict[str, datasets.Dataset], list[str] | None, str]:
    if isinstance(config.source, dict):
        tables, names = {}, None
        for split, path in config.source.items():
            tables[split], names = read_source(path)
        return tables, names, "+".join(config.source.values())
    raw, names = read_source(config.source)
    if isinstance(raw, datasets.DatasetDict):
        tables = {}
        for name, table in raw.items():
            if name not in _SPLIT_ALIASES:
                raise DataError(
                    f"{config.source}: unknown split {name!r}; expected train, validation (or valid/dev) and test"
                )
            tables[_SPLIT_ALIASES[name]] = table
        if "train" not in tables:
            raise DataError(f"{config.source}: the saved dataset has no 'train' split (has: {', '.join(raw)})")
        names = names or _class_label_names(tables["train"], config.label_column)
        return tables, names, config.source
    return {"train": raw}, names or _class_label_names(raw, config.label_column), config.source


def _class_label_names(table: datasets.Dataset, label_column: str) -> list[str] | None:
    feature = table.features.get(label_column)
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def _require_columns(table: datasets.Dataset, wanted: list[str], where: str) -> None:
    missing = [name for name in wanted if name not in table.column_names]
    if missing:
        raise DataError(
            f"{where}: no column {missing[0]!r}; the columns are {', '.join(table.column_names)} "
            "(set data.text_column / data.text_pair_column / data.label_column)"
        )


def _select_columns(table: datasets.Dataset, config: DataConfig, where: str) -> datasets.Dataset:
    columns = {config.text_column: "text", config.label_column: "label"}
    if config.text_pair_column:
        columns[config.text_pair_column] = "text_pair"
    _require_columns(table, list(columns), where)
    table = _materialized(table).select_columns(list(columns)).rename_columns({k: v for k, v in columns.items() if k != v})
    table = table.add_column("row", np.arange(len(table), dtype=np.int64))
    for column in ("text", "text_pair"):
        if column in table.column_names:
            _check_text_column(table, column, where, original=next(k for k, v in columns.items() if v == column))
    _check_no_nulls(table, "label", where, config.label_column)
    return table


def _materialized(table: datasets.Dataset) -> datasets.Dataset:
    """Apply a pending filter/select: the Arrow checks read ``table.data``, which ignores the indices."""
    return table.flatten_indices() if table._indices is not None else table


def _check_text_column(table: datasets.Dataset, column: str, where: str, original: str | None = None) -> None:
    name = original or column
    array = table.data.column(column)
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type) or pa.types.is_null(array.type)):
        raise DataError(f"{where}: column {name!r} holds {array.type}, not text; point the text column at a text field")
    _check_no_nulls(table, column, where, name)


def _check_no_nulls(table: datasets.Dataset, column: str, where: str, name: str) -> None:
    nulls = pc.is_null(table.data.column(column))
    if pc.any(nulls).as_py():
        first = int(pc.index(nulls, True).as_py())
        count = int(pc.sum(nulls).as_py())
        raise DataError(f"{where}: column {name!r} is empty in {count} row(s), first at row {first}; drop or fill them")


def _label_values(table: datasets.Dataset) -> list[str]:
    values = table.unique("label")
    if all(isinstance(value, bool) for value in values):
        values = [int(value) for value in values]
    return [str(value) for value in sorted(values)]


def _encode_labels(table: datasets.Dataset, labels: list[str], named_ids: bool, where: str) -> datasets.Dataset:
    """Map raw labels to ids. ``named_ids``: the raw labels already are ids into ``labels``."""
    index = {name: i for i, name in enumerate(labels)}
    raw = [str(int(v)) if isinstance(v, bool) else str(v) for v in table.unique("label")]
    if named_ids:
        index = {str(i): i for i in range(len(labels))}
    unseen = sorted(set(raw) - set(index))
    if unseen:
        raise DataError(
            f"{where}: label(s) {', '.join(map(repr, unseen[:5]))} do not occur in the training split "
            f"(known: {', '.join(map(repr, list(index)[:10]))}); the model cannot predict them"
        )

    def to_ids(batch):
        return {"label": [index[str(int(v)) if isinstance(v, bool) else str(v)] for v in batch]}

    table = table.map(to_ids, batched=True, input_columns="label", desc="encoding labels")
    return table.cast_column("label", datasets.Value("int64"))


def _limit(tables: dict[str, datasets.Dataset], limit: int, seed: int) -> dict[str, datasets.Dataset]:
    """Stratified subsample so the whole labelled set has about ``limit`` rows, each split its share."""
    total = sum(len(table) for table in tables.values())
    if limit >= total:
        return tables
    limited = {}
    for name, table in tables.items():
        keep = max(2, math.ceil(limit * len(table) / total))
        limited[name] = table if keep >= len(table) else table.select(_stratified_take(table["label"], keep, seed))
    return limited


def _stratified_take(labels: list[int], keep: int, seed: int) -> list[int]:
    indices = np.arange(len(labels))
    stratify = labels if min(np.bincount(labels)) >= 2 else None
    taken, _ = train_test_split(indices, train_size=keep, random_state=seed, stratify=stratify)
    return sorted(taken.tolist())


def _complete_splits(tables, config: DataConfig, seed: int, where: str) -> dict[str, datasets.Dataset]:
    """Carve the missing validation/test splits from train, stratified by label and seeded."""
    train = tables["train"]
    missing = [name for name in ("validation", "test") if name not in tables]
    if not missing:
        return dict(tables)
    if len(set(train["label"])) < 2:
        raise DataError(f"{where}: the training data has a single class; a classifier needs at least two")
    remaining = np.arange(len(train))
    labels = np.asarray(train["label"])
    carved = {}
    left = 1.0
    for name in missing:
        fraction = getattr(config.split, name)
        share = fraction / left
        try:
            remaining, taken = train_test_split(
                remaining, test_size=share, random_state=seed, stratify=labels[remaining]
            )
        except ValueError as error:
            raise DataError(f"{where}: cannot carve a stratified {name} split: {error}") from None
        carved[name] = train.select(sorted(taken.tolist()))
        left -= fraction
    return {**tables, **carved, "train": train.select(sorted(remaining.tolist()))}


def _check_splits(splits: dict[str, datasets.Dataset], labels: list[str], where: str) -> None:
    for name in SPLITS:
        if len(splits[name]) == 0:
            raise DataError(f"{where}: the {name} split is empty; add rows or lower data.limit")
    classes = set(splits["train"].unique("label"))
    if len(classes) < 2:
        raise DataError(f"{where}: the training split has a single class ({labels[classes.pop()]!r}); need two or more")


def _label_counts(table: datasets.Dataset, labels: list[str]) -> dict[str, int]:
    counts = np.bincount(np.asarray(table["label"], dtype=np.int64), minlength=len(labels))
    return {label: int(count) for label, count in zip(labels, counts)}


def _fingerprint(splits: dict[str, datasets.Dataset]) -> str:
    digest = hashlib.sha256()
    for name in SPLITS:
        digest.update(name.encode())
        for batch in splits[name].iter(batch_size=4096):
            digest.update(json.dumps(batch, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
