import json

import datasets
import numpy as np
import pandas as pd
import pytest

from mobile_distill.config import DataConfig, TransferConfig
from mobile_distill.data import (
    PreparedData,
    load_data,
    load_transfer_texts,
    tokenize_split,
)
from mobile_distill.errors import DataError

from .conftest import make_texts


def _config(source, **kwargs):
    return DataConfig(source=str(source), text_column="review", label_column="sentiment", **kwargs)


def test_csv_with_string_labels_gives_stable_stratified_splits(tiny_csv, tmp_path):
    data = load_data(_config(tiny_csv), seed=3)
    assert data.labels == ("negative", "positive")  # sorted: stable across runs and files
    assert data.info["sizes"] == {"train": 320, "validation": 40, "test": 40}
    for split in ("validation", "test"):
        assert data.info["label_counts"][split] == {"negative": 20, "positive": 20}
    rows = [set(data.info["rows"][name]) for name in ("train", "validation", "test")]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert len(set().union(*rows)) == 400
    again = load_data(_config(tiny_csv), seed=3)
    assert again.info["rows"] == data.info["rows"] and again.fingerprint == data.fingerprint
    assert load_data(_config(tiny_csv), seed=4).info["rows"]["test"] != data.info["rows"]["test"]
    data.save(tmp_path / "prepared")
    loaded = PreparedData.load(tmp_path / "prepared")
    assert loaded.labels == data.labels and loaded.splits["test"]["text"] == data.splits["test"]["text"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".tsv"])
def test_other_file_formats(tmp_path, suffix):
    frame = pd.DataFrame(make_texts(60), columns=["review", "sentiment"])
    path = tmp_path / f"data{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t", index=False)
    data = load_data(_config(path, split={"validation": 0.2, "test": 0.2}))
    assert data.labels == ("0", "1")
    assert sum(data.info["sizes"].values()) == 60


def test_saved_dataset_with_its_own_splits_and_class_label_names(tmp_path):
    features = datasets.Features({"review": datasets.Value("string"),
                                  "sentiment": datasets.ClassLabel(names=["neg", "pos"])})
    rows = make_texts(80)
    make = lambda part: datasets.Dataset.from_dict(  # noqa: E731
        {"review": [t for t, _ in part], "sentiment": [l for _, l in part]}, features=features)
    datasets.DatasetDict({"train": make(rows[:60]), "test": make(rows[60:])}).save_to_disk(str(tmp_path / "ds"))
    data = load_data(_config(tmp_path / "ds"))
    assert data.labels == ("neg", "pos")
    assert data.info["sizes"]["test"] == 20  # the source's own test split is kept
    assert data.info["sizes"]["train"] + data.info["sizes"]["validation"] == 60


def test_text_pairs(tmp_path):
    path = tmp_path / "pairs.csv"
    pd.DataFrame({"a": ["x y"] * 20, "b": ["y z"] * 20, "label": [0, 1] * 10}).to_csv(path, index=False)
    data = load_data(DataConfig(source=str(path), text_column="a", text_pair_column="b", split={"validation": 0.2, "test": 0.2}))
    assert data.has_pairs and data.splits["train"][0]["text_pair"] == "y z"


def test_builtin_rotten_tomatoes_is_the_mr_sentence_data():
    data = load_data(DataConfig(source="rotten_tomatoes"))
    assert data.labels == ("negative", "positive")
    assert sum(data.info["sizes"].values()) == 8530
    assert data.info["label_counts"]["test"]["negative"] == data.info["label_counts"]["test"]["positive"]


def test_limit_takes_a_stratified_subsample(tiny_csv):
    data = load_data(_config(tiny_csv, limit=100))
    assert sum(data.info["sizes"].values()) == 100
    assert data.info["label_counts"]["train"]["negative"] == data.info["label_counts"]["train"]["positive"]


def test_transfer_texts_are_sampled(tiny_csv):
    texts = load_transfer_texts(TransferConfig(source=str(tiny_csv), text_column="review", limit=25))
    assert texts.column_names == ["text"] and len(texts) == 25


def test_truncated_texts_are_counted(tiny_bert, tiny_csv):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    data = load_data(_config(tiny_csv))
    lengths = [len(tokenizer(t)["input_ids"]) for t in data.splits["train"]["text"]]
    limit = int(np.median(lengths))
    tokenized = tokenize_split(data.splits["train"], tokenizer, limit)
    assert tokenized.truncated == sum(length > limit for length in lengths) > 0
    assert max(len(ids) for ids in tokenized.dataset["input_ids"]) == limit
    assert "labels" in tokenized.dataset.column_names


# --- bad data: one line, naming the file and the problem ---------------------------------------

def _error(config) -> str:
    with pytest.raises(DataError) as error:
        load_data(config)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    message = _error(DataConfig(source=str(tmp_path / "nope.csv")))
    assert "nope.csv: no such file" in message and "rotten_tomatoes" in message


def test_unknown_column_lists_the_columns(tiny_csv):
    message = _error(DataConfig(source=str(tiny_csv), text_column="body", label_column="sentiment"))
    assert "no column 'body'" in message and "review, sentiment" in message and str(tiny_csv) in message


def test_single_class(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a b"] * 30, "label": ["pos"] * 30}).to_csv(path, index=False)
    assert "single class" in _error(DataConfig(source=str(path)))


def test_eval_label_not_in_train(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame({"text": ["a", "b"] * 10, "label": ["x", "y"] * 10}).to_csv(train, index=False)
    pd.DataFrame({"text": ["a", "b"], "label": ["x", "z"]}).to_csv(test, index=False)
    message = _error(DataConfig(source={"train": str(train), "test": str(test)}))
    assert "'z'" in message and "do not occur in the training split" in message and "test.csv" in message


def test_empty_split(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame({"text": ["a", "b"] * 10, "label": [0, 1] * 10}).to_csv(train, index=False)
    test.write_text("text,label\n")
    message = _error(DataConfig(source={"train": str(train), "test": str(test)}))
    assert "test.csv" in message and ("no rows" in message or "empty" in message)


def test_undecodable_text_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nfine,0\nalso fine,1\n".encode() + "caf\xe9,0\n".encode("latin-1"))
    message = _error(DataConfig(source=str(path)))
    assert "latin1.csv: line 4" in message and "not UTF-8" in message


def test_empty_text_cells_name_the_row(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("text,label\na,0\n,1\nb,0\nc,1\n")
    message = _error(DataConfig(source=str(path)))
    assert "'text' is empty in 1 row(s), first at row 1" in message


def test_non_text_column(tmp_path):
    path = tmp_path / "numbers.jsonl"
    path.write_text("\n".join(json.dumps({"text": i, "label": i % 2}) for i in range(10)))
    assert "not text" in _error(DataConfig(source=str(path)))


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    assert "unsupported file type '.xlsx'" in _error(DataConfig(source=str(path)))


def test_not_a_saved_dataset_folder(tmp_path):
    assert "save_to_disk" in _error(DataConfig(source=str(tmp_path)))
