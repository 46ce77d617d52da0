"""End to end, through the installed `mobile-distill` command, on the real bundled teacher
(all-MiniLM-L6-v2, 22.7 M parameters) and a slice of the real Rotten Tomatoes data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_real_teacher_to_distilbert_student_through_the_cli(tmp_path):
    recipe = yaml.safe_load((Path(__file__).parents[1] / "mobile_distill" / "recipes" / "default.yaml").read_text())
    recipe.update(name="e2e", output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    recipe["data"].update(limit=1200, max_length=48)
    recipe["teacher"]["fine_tune"].update(epochs=2, learning_rate=1e-4, batch_size=16, save_steps=60)
    recipe["distill"]["train"].update(epochs=2, learning_rate=1e-4, batch_size=16, save_steps=60)
    # Gates that see a collapse: a student below 0.85 of the teacher's accuracy, or that is not 10 points
    # above always predicting the majority class, fails (a collapsed teacher too: 0.5 / 0.5 is a perfect
    # retention). Two epochs on 960 texts give a student at 0.90-0.92 retention on 121 rows (CI: 0.919,
    # here 0.906): a 0.9 floor was a coin toss; a collapsed student (0.5 / 0.71 = 0.70) fails 0.85.
    recipe["gate"] = {"min_retention": 0.85, "min_gain_over_majority": 0.1}
    # 120 test rows of a student trained for two epochs on 960 texts: many texts sit near its decision
    # boundary, and int8 flipped 4 of them in one run, none in another (training on CPU threads is not
    # bit-reproducible). A collapse flips half; int8 gets limits that tell the two apart (6 rows) and
    # fp32 keeps the default ones, which it meets exactly. The teacher-retention floor leaves room for
    # that drop: a student at 0.92 retention (CI: 0.653 vs 0.711) whose int8 file flips 3 rows lands
    # at 0.88, which failed a 0.9 floor once; a collapsed file (0.5 / 0.71 = 0.70) fails 0.85.
    recipe["gate2"] = {"min_teacher_retention": 0.85, "max_accuracy_drop": {"int8-dynamic": 5.0},
                       "min_agreement": {"int8-dynamic": 0.95}}
    recipe["export"] = {"targets": ["onnx", "tflite"], "precisions": ["fp32", "int8-dynamic"]}
    recipe["bench"] = {"threads": [1], "timing": False}  # latency through `run`: tests/test_cli.py
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))

    command = Path(sys.executable).parent / "mobile-distill"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run([str(command), "run", str(path)], capture_output=True, text=True, env=env, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "PASS" in completed.stdout
    # a run a person can read: stage headers and summaries, the gate tables, no library chatter
    printed = completed.stdout + completed.stderr
    for noise in ("LOAD REPORT", "{'loss'", "Failed to load", "Enum subclass", "XNNPACK delegate", "Traceback"):
        assert noise not in printed, noise
    for stage in ("teacher:", "distill:", "gate 1:", "export:", "bench: gate 2"):
        assert stage in completed.stderr, stage
    assert "gate 1 (student vs teacher): PASS" in completed.stdout and "gate 2: PASS" in completed.stdout

    report = json.loads((tmp_path / "run" / "student" / "distill_report.json").read_text())
    assert report["teacher"]["parameters"] == 22_713_986  # the bundled BERT with a 2-class head
    assert report["teacher"]["layers"] == 6 and report["student"]["layers"] == 3
    assert report["student"]["model_type"] == "distilbert"
    assert report["distillation"]["layer_map"] == [1, 3, 5]
    # it learned the task from 960 sentences (0.66 to 0.71 over runs: training with 2 threads is not
    # bit-reproducible on CPU, as the BLAS's parallel reductions depend on memory alignment)
    assert report["teacher"]["test"]["accuracy"] > 0.62
    assert report["student"]["test"]["accuracy"] >= report["majority_rate"] + 0.1  # not a collapse to one class
    assert report["verdict"] == "PASS" and report["thresholds"]["min_retention"] == 0.85
    assert sum(report["data"]["sizes"].values()) == 1200 and abs(report["data"]["sizes"]["test"] - 120) <= 1

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    student_dir = tmp_path / "run" / "student"
    model = AutoModelForSequenceClassification.from_pretrained(student_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(student_dir, local_files_only=True)
    logits = model(**tokenizer(["a gorgeous, moving film", "a dull, tiresome mess"], padding=True, return_tensors="pt")).logits
    assert logits.shape == (2, 2)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert (student_dir / "README.md").read_text().startswith("---")

    artifacts = sorted(path.name for path in (tmp_path / "run" / "artifacts").iterdir())
    assert artifacts == ["onnx-fp32-s48", "onnx-int8-dynamic-s48", "tflite-fp32-s48", "tflite-int8-dynamic-s48"]
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert summary["artifacts"] == ["onnx-fp32-s48", "onnx-int8-dynamic-s48", "tflite-fp32-s48", "tflite-int8-dynamic-s48"]
    from mobile_distill.runners import load_runner

    texts = ["a gorgeous, moving film", "a dull, tiresome mess"]
    reference = model(**tokenizer(texts, padding="max_length", max_length=48, return_tensors="pt")).logits.detach().numpy()
    exported = load_runner(tmp_path / "run" / "artifacts" / "tflite-fp32-s48").predict(texts)
    assert abs(exported - reference).max() < 1e-3

    bench = json.loads((tmp_path / "run" / "bench" / "bench.json").read_text())
    by_name = {model["name"]: model for model in bench["models"]}
    # gate 1 and bench run the student through two PyTorch paths (length-sorted batches vs the runner):
    # the same predictions up to a borderline row
    assert abs(by_name["pytorch reference"]["accuracy"]["accuracy"] - report["student"]["test"]["accuracy"]) <= 1 / 120
    assert by_name["tflite-fp32-s48"]["accuracy"]["agreement_reference"] == 1.0
    assert all(by_name[name]["verdict"]["status"] == "PASS" for name in artifacts)
    assert any("one row is" in warning and "fp32" in warning for warning in bench["warnings"])
    assert "gate 2" in completed.stdout and "report.html" in completed.stdout
