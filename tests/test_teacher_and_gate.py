import json
import time

import pytest

from mobile_distill.config import DataConfig, GateConfig, TeacherConfig, TrainConfig
from mobile_distill.data import load_data
from mobile_distill.errors import Gate1Failure, ModelError
from mobile_distill.gate import gate_student, judge
from mobile_distill.models import load_classifier, resolve_model_path
from mobile_distill.teacher import prepare_teacher

from .conftest import save_tiny_model, tiny_run


@pytest.fixture(scope="module")
def data(tiny_csv):
    return load_data(DataConfig(source=str(tiny_csv), text_column="review", label_column="sentiment", limit=200))


def test_fine_tuned_teacher_is_cached_by_model_data_and_settings(tmp_path, data):
    source = save_tiny_model(tmp_path / "init", layers=2)
    config = TeacherConfig(model=str(source), fine_tune=TrainConfig(epochs=1, learning_rate=3e-3, batch_size=16, save_steps=50))
    first = prepare_teacher(config, data, tiny_run(tmp_path / "run1", cache_dir=tmp_path / "cache"))
    assert not first.from_cache and (first.path / "model.safetensors").is_file()
    assert json.loads((first.path / "labels.json").read_text())["labels"] == ["negative", "positive"]
    start = time.perf_counter()
    second = prepare_teacher(config, data, tiny_run(tmp_path / "run2", cache_dir=tmp_path / "cache"))
    assert second.from_cache and time.perf_counter() - start < 20
    assert (second.path / "model.safetensors").read_bytes() == (first.path / "model.safetensors").read_bytes()
    changed = config.model_copy(update={"fine_tune": config.fine_tune.model_copy(update={"learning_rate": 1e-3})})
    third = prepare_teacher(changed, data, tiny_run(tmp_path / "run3", cache_dir=tmp_path / "cache"))
    assert not third.from_cache


def test_a_fine_tune_makes_one_teacher_not_a_new_draw_each_run(tmp_path, data):
    # a source whose head is for other labels: fine-tuning starts from a new, random head, which must be
    # seeded, or the teacher the cache key names differs from run to run (torch seeds each process at random)
    source = save_tiny_model(tmp_path / "init", layers=2, labels=("a", "b", "c"))
    config = TeacherConfig(model=str(source), fine_tune=TrainConfig(epochs=1, learning_rate=3e-3, batch_size=16,
                                                                   save_steps=50))
    one, two = (prepare_teacher(config, data, tiny_run(tmp_path / run, cache_dir=None)) for run in ("one", "two"))
    assert not one.from_cache and not two.from_cache
    assert (one.path / "model.safetensors").read_bytes() == (two.path / "model.safetensors").read_bytes()


def test_classifier_used_as_is_must_have_the_data_labels(tmp_path, data):
    source = save_tiny_model(tmp_path / "clf", labels=("bad", "good"))
    with pytest.raises(ModelError, match=r"labels \['bad', 'good'\] differ from the data's \['negative', 'positive'\]"):
        prepare_teacher(TeacherConfig(model=str(source), fine_tune=None), data, tiny_run(tmp_path))


def test_bad_model_folders_get_one_line_errors(tmp_path):
    with pytest.raises(ModelError, match="no such model folder and not a built-in model"):
        resolve_model_path(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a Hugging Face model folder"):
        load_classifier(tmp_path / "empty")
    pickled = save_tiny_model(tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ModelError, match="found pytorch_model.bin: convert it to safetensors"):
        load_classifier(pickled)
    no_tokenizer = save_tiny_model(tmp_path / "no_tok")
    for name in ("vocab.txt", "tokenizer.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    with pytest.raises(ModelError, match="no tokenizer files"):
        load_classifier(no_tokenizer)


def test_judge_applies_retention_agreement_and_majority_floors():
    assert judge(0.90, 0.88, 0.95, 0.5, GateConfig())[1] == []  # 0.978 >= 0.97
    retention, reasons = judge(0.90, 0.85, 0.95, 0.5, GateConfig())
    assert retention == pytest.approx(0.9444, abs=1e-4) and reasons == ["retention 0.9444 < 0.97"]
    assert judge(0.90, 0.89, 0.90, 0.5, GateConfig(min_agreement=0.95))[1]
    # a teacher and a student that both predict the majority class: retention 1.0, and still a FAIL
    collapsed = judge(0.50, 0.50, 1.0, 0.50, GateConfig(min_gain_over_majority=0.1))[1]
    assert collapsed == ["student accuracy 0.5000 is not 0.1 above the majority-class rate 0.5000"]


def test_gate_writes_report_and_card_and_fails_loudly(tmp_path, data):
    teacher = save_tiny_model(tmp_path / "teacher", layers=2, seed=1)
    student = save_tiny_model(tmp_path / "student", model_type="distilbert", layers=1, seed=2)
    report = gate_student(teacher, student, data, GateConfig(min_retention=0.01), 32)
    assert report.verdict == "PASS"
    assert report.teacher.test.examples == report.student.test.examples == data.info["sizes"]["test"]
    written = json.loads((student / "distill_report.json").read_text())
    assert written["retention"] == pytest.approx(report.retention)
    assert 0.4 <= written["majority_rate"] <= 0.6  # the tiny data set is balanced
    assert "Gate 1 (student vs teacher): **PASS**" in (student / "README.md").read_text()
    with pytest.raises(Gate1Failure) as failure:
        gate_student(teacher, student, data, GateConfig(min_retention=1.5), 32)
    assert failure.value.report.verdict == "FAIL" and "retention" in str(failure.value)
    assert failure.value.exit_code == 1
