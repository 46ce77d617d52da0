"""Shared fixtures: tiny random BERT models (a few thousand parameters) and small learnable data."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# No hub at test time: any hub call is a bug. Set before transformers is imported by a test.
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")

POSITIVE = ["good", "great", "fun", "lovely", "superb", "moving", "bright", "warm"]
NEGATIVE = ["bad", "awful", "boring", "dull", "weak", "tired", "flat", "cold"]
FILLER = ["the", "film", "was", "a", "story", "and", "plot", "acting", "very", "quite", "it", "movie"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_texts(count: int, seed: int = 0) -> list[tuple[str, int]]:
    """Sentences whose label is the majority of sentiment words in them: learnable, not trivial."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = i % 2
        strong, weak = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        words = rng.sample(FILLER, rng.randint(2, 8)) + rng.sample(strong, 2) + rng.sample(weak, rng.randint(0, 1))
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def tiny_run(root: Path, **values):
    """The run context the tests train in: folder ``root``, seed 0, 32 tokens (the tiny texts' length)."""
    from mobile_distill.context import RunContext

    return RunContext.at(root, **{"seed": 0, "max_length": 32, **values})


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + sorted(set(POSITIVE + NEGATIVE + FILLER)) + ["##s", "##ly"]) + "\n")
    return vocab


def save_tiny_model(folder: Path, model_type: str = "bert", layers: int = 4, labels=("negative", "positive"),
                    dropout: float = 0.1, seed: int = 0, hidden: int = 16) -> Path:
    """A tiny random classifier of ``model_type`` with a matching WordPiece tokenizer, saved to ``folder``."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    torch.manual_seed(seed)
    vocab = write_vocab(folder)
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)  # transformers 5: `vocab`, not `vocab_file`
    size = len(vocab.read_text().split())
    label_maps = dict(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    if model_type == "bert":
        config = BertConfig(vocab_size=size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                            intermediate_size=2 * hidden, max_position_embeddings=64, hidden_dropout_prob=dropout,
                            attention_probs_dropout_prob=dropout, **label_maps)
        model = BertForSequenceClassification(config)
    else:
        config = DistilBertConfig(vocab_size=size, dim=hidden, n_layers=layers, n_heads=2, hidden_dim=2 * hidden,
                                  max_position_embeddings=64, dropout=dropout, attention_dropout=dropout, **label_maps)
        model = DistilBertForSequenceClassification(config)
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        for text, label in make_texts(400):
            writer.writerow([text, "positive" if label else "negative"])
    return path


@pytest.fixture(scope="session")
def data(tiny_csv):
    """The tiny labelled data set, prepared (train, validation and test splits)."""
    from mobile_distill.config import DataConfig
    from mobile_distill.data import load_data

    return load_data(DataConfig(source=str(tiny_csv), text_column="review", label_column="sentiment"))


@pytest.fixture(scope="session")
def trained_teacher(tmp_path_factory, data):
    """A tiny teacher (4 layers, width 16) fine-tuned briefly, so distillation has something to learn from."""
    from mobile_distill import ui
    from mobile_distill.config import TeacherConfig, TrainConfig
    from mobile_distill.teacher import fine_tune

    root = tmp_path_factory.mktemp("teacher")
    source = save_tiny_model(root / "init", layers=4)
    config = TeacherConfig(model=str(source), fine_tune=TrainConfig(epochs=4, learning_rate=3e-3, batch_size=16,
                                                                   save_steps=40))
    with ui.verbosity(ui.QUIET):
        return fine_tune(source, config, data, root / "teacher", tiny_run(root), key="teacher").path
