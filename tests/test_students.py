"""The student registry and the narrow recipes: every recipe builds a real `transformers` model that
AutoModelForSequenceClassification loads back; shapes the recipes cannot build are one-line errors
before training; a short distillation of each recipe lowers its losses and beats the same student
trained without the teacher; progressive transfer trains exactly the layer it should."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch

from mobile_distill import ui
from mobile_distill.config import DistillConfig, LossWeights, StudentConfig, TrainConfig
from mobile_distill.data import PreparedData
from mobile_distill.distill import distill
from mobile_distill.errors import ConfigError
from mobile_distill.gate import evaluate_on_test
from mobile_distill.models import load_classifier
from mobile_distill.students import PRESETS, STUDENT_TYPES, build_student, docs_table, resolve

from .conftest import tiny_run

# small shapes of every recipe for the tiny teacher (4 layers, width 16, 2 heads)
SHAPES = {
    "distilbert": StudentConfig(type="distilbert", layers=(1, 3)),
    "bert": StudentConfig(type="bert", layers=(1, 3)),
    "tinybert": StudentConfig(type="tinybert", num_layers=2, hidden_size=16, num_heads=2, intermediate_size=32),
    "mobilebert": StudentConfig(type="mobilebert", num_layers=2, embedding_size=8, intra_bottleneck_size=8,
                                num_heads=2, intermediate_size=16, feedforward_networks=2),
    "bilstm": StudentConfig(type="bilstm", embedding_size=8, lstm_size=8, intermediate_size=8),
    "cnn": StudentConfig(type="cnn", embedding_size=8, filters=8, intermediate_size=8, kernel_sizes=(2, 3)),
}
TRANSFORMERS = [name for name in SHAPES if STUDENT_TYPES[name].kind == "transformer"]
FAST = TrainConfig(epochs=3, learning_rate=5e-3, batch_size=16, save_steps=20)
NO_TEACHER = LossWeights(kd=0, ce=1, cos=0, hidden_mse=0, embedding_mse=0, attention_mse=0, attention_kl=0)


def test_every_registered_recipe_has_a_test_shape_and_a_docs_row():
    assert set(SHAPES) == set(STUDENT_TYPES)
    page = (Path(__file__).parents[1] / "docs" / "recipes.md").read_text()
    assert docs_table() in page, "docs/recipes.md's student table is stale: paste mobile_distill.students.docs_table()"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_resolves_against_the_bundled_teacher_shape(preset):
    """all-MiniLM-L6-v2: 6 layers, width 384, 12 heads, FFN 1536."""
    from transformers import BertConfig

    teacher = BertConfig(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536)
    architecture = resolve(StudentConfig(type=PRESETS[preset], preset=preset), teacher)
    if STUDENT_TYPES[PRESETS[preset]].kind == "textnet":  # no layers to map, no heads
        assert architecture.layer_map == () and 8 <= architecture.embedding_size <= 384
        return
    assert architecture.hidden_size % architecture.num_heads == 0 and max(architecture.layer_map) <= 5
    assert architecture.hidden_size <= 384


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_recipe_builds_a_model_transformers_loads_back(trained_teacher, tmp_path, name):
    from transformers import AutoModelForSequenceClassification

    teacher = load_classifier(trained_teacher)
    student = build_student(teacher, SHAPES[name])
    assert student.type == name and student.model.config.num_labels == 2
    origins = student.origins.summary()
    every = {n for n, _ in student.model.named_parameters()}
    listed = {n for group in ("copied", "projected", "random", "loaded") for n in origins.get(group, {}).get("names", [])}
    assert listed == every  # the report accounts for every tensor
    student.model.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, local_files_only=True)
    batch = {"input_ids": torch.randint(5, 30, (2, 7)), "attention_mask": torch.ones(2, 7, dtype=torch.long)}
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(**batch).logits, student.model.eval()(**batch).logits)


def test_narrow_students_start_from_the_teachers_embeddings_projected(trained_teacher):
    teacher = load_classifier(trained_teacher)
    narrow = build_student(teacher, StudentConfig(type="tinybert", num_layers=2, hidden_size=8, num_heads=2,
                                                  intermediate_size=16))
    origins = narrow.origins.summary()
    assert "bert.embeddings.word_embeddings.weight" in origins["projected"]["names"]
    assert any("encoder.layer" in name for name in origins["random"]["names"])
    words = teacher.base_model.embeddings.word_embeddings.weight.detach()
    projected = narrow.model.bert.embeddings.word_embeddings.weight.detach()
    # the projection keeps the geometry of the table: nearest neighbours mostly survive
    def neighbours(table):
        table = torch.nn.functional.normalize(table, dim=-1)
        return (table @ table.T).topk(2, dim=-1).indices[:, 1]
    assert (neighbours(words) == neighbours(projected)).float().mean() > 0.3


@pytest.mark.parametrize("config,words", [
    (StudentConfig(type="distilbert", hidden_size=8), "the distilbert student copies the teacher's layers"),
    (StudentConfig(type="tinybert", num_layers=2, hidden_size=10, num_heads=4), "4 heads do not divide"),
    (StudentConfig(type="tinybert", layers=(0, 9)), "names layer 9 but the teacher has layers 0..3"),
])
def test_shapes_a_recipe_cannot_build_are_one_line_errors(trained_teacher, config, words):
    with pytest.raises(ConfigError) as error:
        build_student(load_classifier(trained_teacher), config)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_preset_of_another_recipe_is_refused_in_the_config():
    with pytest.raises(ValueError, match="preset 'tinybert-4l-312' is not a mobilebert preset"):
        StudentConfig(type="mobilebert", preset="tinybert-4l-312")


def test_per_head_attention_losses_across_head_counts_fail_before_training(trained_teacher, data, tmp_path):
    config = DistillConfig(train=FAST, attention_heads="per-head")
    student = StudentConfig(type="tinybert", num_layers=2, hidden_size=16, num_heads=4, intermediate_size=32)
    with pytest.raises(ConfigError, match="per-head attention losses need the same head count"):
        distill(trained_teacher, data, config, student, tmp_path / "s", tiny_run(tmp_path))
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").rglob("checkpoint-*"))


@pytest.fixture(scope="module")
def few_labels(data):
    """32 labelled training texts, the rest of the training split as unlabelled transfer texts: what the
    teacher knows matters to a student that sees few labels."""
    train = data.splits["train"]
    splits = datasets.DatasetDict({"train": train.select(range(32)), "validation": data.splits["validation"],
                                   "test": data.splits["test"]})
    few = PreparedData(splits=splits, labels=data.labels, info={**data.info, "fingerprint": "few-labels"})
    transfer = datasets.Dataset.from_dict({"text": list(train["text"][32:])})
    transfer._fingerprint = "few-labels-transfer"
    return few, transfer


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SHAPES))
def test_distilling_each_recipe_lowers_its_losses_and_beats_training_without_the_teacher(
        trained_teacher, data, few_labels, tmp_path, name):
    few, transfer = few_labels
    rate = 5e-3 if name in TRANSFORMERS else 2e-2  # the BiLSTM and CNN start from fewer trained weights
    config = DistillConfig(train=FAST.model_copy(update={"learning_rate": rate}),
                           intermediate=TrainConfig(epochs=2, learning_rate=5e-3, batch_size=16, save_steps=20))
    alone = DistillConfig(train=TrainConfig(epochs=25, learning_rate=rate, batch_size=16, save_steps=20),
                          schedule="joint", weights=NO_TEACHER)  # as many steps as the distillation, or more
    with ui.verbosity(ui.QUIET):
        distill(trained_teacher, few, config, SHAPES[name], tmp_path / "d", tiny_run(tmp_path), transfer)
        distill(trained_teacher, few, alone, SHAPES[name], tmp_path / "n", tiny_run(tmp_path))
    for stage in json.loads((tmp_path / "d" / "distill_log.json").read_text())["stages"]:
        third = max(1, len(stage["losses"]) // 3)
        early, late = stage["losses"][:third], stage["losses"][-third:]
        assert stage["steps"] > 0 and sum(late) / len(late) < sum(early) / len(early), (stage["name"], stage["losses"])
    ours, theirs = (evaluate_on_test(tmp_path / folder, data, 32)[0].test.accuracy for folder in ("d", "n"))
    assert ours > theirs, f"{name}: distilled {ours} vs without the teacher {theirs}"


@pytest.mark.slow
def test_progressive_transfer_trains_one_layer_at_a_time(trained_teacher, data, tmp_path):
    from safetensors.torch import load_file

    config = DistillConfig(train=TrainConfig(epochs=1, learning_rate=5e-3, batch_size=16, save_steps=20),
                           intermediate=TrainConfig(epochs=1, learning_rate=5e-3, batch_size=16, save_steps=20))
    with ui.verbosity(ui.QUIET):
        result = distill(trained_teacher, data, config, SHAPES["mobilebert"], tmp_path / "s", tiny_run(tmp_path))
    assert [stage["name"] for stage in result.log["stages"]] == ["layer-0", "layer-1", "task"]
    (root,) = (tmp_path / "checkpoints").glob("student-*")
    states = {stage: load_file(str(root / stage / "done" / "module.safetensors")) for stage in ("layer-0", "layer-1")}
    changed = {name for name in states["layer-0"] if not torch.equal(states["layer-0"][name], states["layer-1"][name])}
    assert changed and all(name.startswith("student.mobilebert.encoder.layer.1.") for name in changed), sorted(changed)
    trained = {name for name in states["layer-0"] if name.startswith("student.mobilebert.encoder.layer.1.")}
    assert len(changed) > len(trained) // 2  # the layer itself did train


@pytest.mark.slow
@pytest.mark.parametrize("name", TRANSFORMERS)
def test_every_recipes_student_exports_with_parity(trained_teacher, tmp_path, name):
    """fp32 ONNX, TFLite and ExecuTorch files of each transformer recipe's student give its PyTorch logits
    (the text-dependent parity at every precision is test_parity.py's, for the BERT, DistilBERT and
    MobileBERT classes these recipes build and for the BiLSTM and CNN students themselves)."""
    import numpy as np

    from mobile_distill.export import ExportOptions, export
    from mobile_distill.models import load_tokenizer
    from mobile_distill.runners import load_runner

    from .conftest import make_texts

    texts = [text for text, _ in make_texts(40, seed=3)]
    tokenizer = load_tokenizer(trained_teacher)
    student = _text_dependent_student(trained_teacher, name, tokenizer, texts)
    folder = tmp_path / "student"
    student.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "labels.json").write_text(json.dumps({"labels": ["negative", "positive"]}))
    reference = load_runner(folder, seq_len=32).predict(texts)
    gaps = reference[:, 1] - reference[:, 0]
    assert np.ptp(gaps) > 1.0, f"the logits hardly depend on the text ({np.ptp(gaps):.2g}): parity would be vacuous"
    for target in ("onnx", "tflite", "executorch"):
        artifact = export(folder, target, "fp32", tmp_path / target, ExportOptions(seq_len=32), texts, texts[:8])
        np.testing.assert_allclose(load_runner(artifact).predict(texts), reference, atol=1e-4, err_msg=target)


def _text_dependent_student(teacher, name: str, tokenizer, texts: list[str]):
    """The recipe's student with wide random weights: BERT's 0.02 init gives near-constant logits, these
    give logit gaps of a few units that depend on the text, so a comparison of logits means something."""
    student = build_student(load_classifier(teacher), SHAPES[name]).model.eval()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        for parameter in student.parameters():
            if parameter.dim() == 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        gaps = student(**tokenizer(texts, padding=True, return_tensors="pt")).logits.diff(dim=1)
        student.classifier.weight.mul_(2.0 / float(gaps.std()))
    return student


def test_mobilebert_is_evaluated_as_its_exported_files_run(trained_teacher, data):
    """Its trigram embedding makes the last real token depend on whether padding follows it: batched
    evaluation (each batch padded to its own longest text) must give the logits of the full-length
    padding every exported file runs with."""
    import numpy as np

    from mobile_distill.data import tokenize_split
    from mobile_distill.evaluate import predict_logits
    from mobile_distill.models import load_tokenizer

    tokenizer = load_tokenizer(trained_teacher)
    texts = list(data.splits["test"]["text"])
    student = _text_dependent_student(trained_teacher, "mobilebert", tokenizer, texts)
    batched = predict_logits(student, tokenizer, tokenize_split(data.splits["test"], tokenizer, 32).dataset, 32,
                             batch_size=8)
    with torch.no_grad():
        full = student(**tokenizer(texts, padding="max_length", truncation=True, max_length=32,
                                   return_tensors="pt")).logits.numpy()
    assert np.ptp(full[:, 1] - full[:, 0]) > 1.0
    np.testing.assert_allclose(batched, full, atol=1e-4)
