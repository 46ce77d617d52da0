"""Quantization-aware training: the QAT student's int8 artifacts agree with its fake-quantized PyTorch
model at gate 2's int8 floor in their own runtimes, a run with a `qat` section benches the QAT
student's int8 artifacts beside the post-training ones in one report, and what QAT cannot train is
refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from mobile_distill.config import QATConfig, TrainConfig, recipe_from_dict
from mobile_distill.errors import ConfigError
from mobile_distill.export import ExportOptions, export
from mobile_distill.models import load_classifier, load_tokenizer
from mobile_distill.precisions import PRECISIONS
from mobile_distill.qat import fake_quantize, quantization_aware_training
from mobile_distill.runners import load_runner

from .planted import margin_texts, planted_texts, save_planted_model

from .conftest import tiny_run

FAST = TrainConfig(epochs=1.0, learning_rate=1e-3, batch_size=16, save_steps=20)


@pytest.fixture(scope="module")
def qat_student(trained_teacher, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("qat")
    # the fine-tuned tiny teacher doubles as the student: QAT starts from any gate-1 student
    result = quantization_aware_training(trained_teacher, trained_teacher, data, QATConfig(train=FAST),
                                         tiny_run(root))
    return root, result


def test_qat_leaves_a_plain_student_and_records_the_fake_quantized_accuracy(qat_student, trained_teacher):
    _, result = qat_student
    model = load_classifier(result.path)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert all(type(m) is torch.nn.Linear for m in model.modules() if isinstance(m, torch.nn.Linear))
    accuracy = result.log["validation_accuracy"]
    assert set(accuracy) == {"float", "fake_quantized_before", "fake_quantized_after"}
    assert accuracy["fake_quantized_after"] > 0.8 and result.log["steps"] > 0
    changed = [name for name, tensor in model.state_dict().items()
               if not torch.equal(tensor, load_classifier(trained_teacher).state_dict()[name])]
    assert changed  # the weights trained


@pytest.mark.parametrize("target", ["executorch", "onnx", "tflite"])
def test_qat_int8_artifacts_agree_with_the_fake_quantized_model(qat_student, data, target):
    root, result = qat_student
    texts = list(data.splits["test"]["text"]) + list(data.splits["validation"]["text"])
    tokenizer = load_tokenizer(result.path)
    fake = fake_quantize(load_classifier(result.path)).eval()
    with torch.no_grad():
        simulated = fake(**tokenizer(texts, padding="max_length", max_length=32, truncation=True,
                                     return_tensors="pt")).logits.numpy()
    artifact = export(result.path, target, "int8-dynamic", root / f"{target}-int8", ExportOptions(seq_len=32),
                      list(data.splits["train"]["text"]), texts[:8])
    exported = load_runner(artifact).predict(texts)
    precision = PRECISIONS["int8-dynamic"]
    decided = margin_texts(simulated, precision.max_abs_logit_diff)
    assert len(decided) >= 40 and 0.2 < simulated[decided].argmax(-1).mean() < 0.8  # both classes: can fail
    agree = float((exported[decided].argmax(-1) == simulated[decided].argmax(-1)).mean())
    assert agree >= precision.min_agreement, agree
    assert float(np.quantile(np.abs(exported - simulated).max(-1), 0.95)) <= precision.max_abs_logit_diff


def test_qat_refuses_students_it_cannot_fake_quantize(tmp_path):
    folder = save_planted_model(tmp_path / "cnn", planted_texts(20), model_type="cnn")
    with pytest.raises(ConfigError, match="qat: the mdistill-cnn student computes with Conv1d"):
        fake_quantize(load_classifier(folder))
    recipe = {"version": 1, "data": {"source": "rotten_tomatoes"}, "qat": {}}
    with pytest.raises(ConfigError, match="qat: quantization-aware training fake-quantizes nn.Linear layers only"):
        recipe_from_dict({**recipe, "student": {"type": "bilstm"}})
    with pytest.raises(ConfigError, match=r"qat: export.precisions \['fp32'\] has no int8 precision"):
        recipe_from_dict({**recipe, "export": {"precisions": ["fp32"]}})


@pytest.mark.slow
def test_a_run_with_qat_benches_both_students_int8_artifacts_in_one_report(tmp_path, tiny_csv):
    from mobile_distill.cli import main

    from .conftest import save_tiny_model

    teacher = save_tiny_model(tmp_path / "init", layers=4)
    fast = {"epochs": 3, "learning_rate": 3e-3, "batch_size": 16, "save_steps": 40}
    recipe = {
        "version": 1, "name": "tiny-qat", "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
        "seed": 0, "data": {"source": str(tiny_csv), "text_column": "review", "label_column": "sentiment",
                            "max_length": 32},
        "teacher": {"model": str(teacher), "fine_tune": {**fast, "epochs": 4}},
        "distill": {"train": fast}, "gate": {"min_retention": 0.9},
        "qat": {"train": {**fast, "epochs": 1, "learning_rate": 1e-3}},
        "gate2": {"min_teacher_retention": 0.9, "max_accuracy_drop": {"int8-dynamic": 5.0},
                  "min_agreement": {"int8-dynamic": 0.95}},
        "export": {"targets": ["onnx"], "precisions": ["fp32", "int8-dynamic"], "seq_lens": [32]},
        "bench": {"timing": False},  # latency is not what this test is about: no timing processes
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path)]) == 0
    run = tmp_path / "run"
    names = ["onnx-fp32-s32", "onnx-int8-dynamic-s32", "onnx-int8-dynamic-qat-s32"]
    assert json.loads((run / "run_summary.json").read_text())["artifacts"] == names
    manifest = json.loads((run / "artifacts" / names[2] / "manifest.json").read_text())
    assert manifest["source"]["path"] == str(run / "student-qat")
    bench = json.loads((run / "bench" / "bench.json").read_text())
    assert [m["name"] for m in bench["models"]][-3:] == names and bench["verdict"] == "PASS"
    # the QAT student is a retrained model: its artifacts are judged against it, the others against the student
    roles = {m["name"]: (m["role"], m.get("reference")) for m in bench["models"]}
    assert roles["pytorch student-qat"] == ("variant", None)
    assert roles[names[2]] == ("artifact", "pytorch student-qat") and roles[names[1]] == ("artifact", None)
    assert "qat" in json.loads((run / "run_summary.json").read_text())["seconds"]
    assert main(["run", str(path)]) == 0  # the rerun reuses the QAT student
    assert any(s.startswith("qat") for s in json.loads((run / "run_summary.json").read_text())["skipped"])


def test_the_qat_verb_writes_the_qat_student_into_the_run_folder(trained_teacher, tiny_csv, tmp_path):
    from mobile_distill.cli import main

    argv = ["qat", str(trained_teacher), str(trained_teacher), "-o", str(tmp_path), "--data", str(tiny_csv),
            "--text-column", "review", "--label-column", "sentiment", "--max-length", "32", "--epochs", "1",
            "--learning-rate", "1e-3", "--batch-size", "16", "--save-steps", "20", "--alpha-ce", "0"]
    assert main(argv) == 0
    log_file = tmp_path / "student-qat" / "qat_log.json"
    log = json.loads(log_file.read_text())
    assert log["config"]["ce"] == 0 and log["config"]["train"]["learning_rate"] == 1e-3
    made = log_file.stat().st_mtime_ns
    assert main(argv) == 0 and log_file.stat().st_mtime_ns == made  # the same settings: the stage knows it is done
    assert main([*argv[:-2], "--alpha-ce", "0.5"]) == 0 and log_file.stat().st_mtime_ns != made  # new settings: redone
