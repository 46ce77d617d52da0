"""Guards for the accuracy checks of the budget search, gate 2's chained teacher budget and QAT: each
test here turns red when its check is switched off by a one-line change (elsewhere the budgets are
loose, floors stay under 1.0, and the QAT students are not sensitive to int8, so those changes pass).

- the chained teacher budget (gate 2's ``min_teacher_retention``) above 1.0, and composed through a
  QAT student: an artifact is judged against its own student for the drop, against the teacher for
  the chain;
- the search's accuracy budget: a measured artifact that passes gate 2 and fits, but is under the
  teacher's accuracy less the allowed drop, is not in the budget and is never chosen;
- the search's early stop: a candidate far under the floor at half its training is abandoned;
- QAT trains and measures the int8 fake-quantized model, not the float one.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch

from mobile_distill.bench.gate2 import apply_gate
from mobile_distill.bench.schema import BenchReport, ModelEntry, Scores
from mobile_distill.config import BudgetConfig, Gate2Config, QATConfig, SearchConfig, StudentConfig, TrainConfig
from mobile_distill.models import load_classifier
from mobile_distill.qat import quantization_aware_training
from mobile_distill.search import search

from .conftest import tiny_run

# --- 1. the chained teacher budget --------------------------------------------------------------


def _entry(role: str, name: str, accuracy: float, precision: str = "fp32", reference: str | None = None):
    return ModelEntry(role=role, name=name, target="torch" if role != "artifact" else "onnx", precision=precision,
                      path=name, sequence_length=32, size_bytes=1, reference=reference,
                      scores=Scores(rows=1000, accuracy=accuracy, macro_f1=accuracy, agreement_reference=1.0))


def test_the_chained_teacher_budget_holds_above_1_and_composes_through_a_qat_student():
    # A weak teacher (0.60) whose student (0.66) and QAT student (0.80) beat it: retentions 1.1 and 1.3333.
    # A floor of 1.2 (Gate2Config allows up to 1.5: "the artifact must beat the teacher") must fail the
    # student's artifact and pass the QAT one. A chained budget clamped to 1.0 (the retention, the floor,
    # or the field's upper bound) passes both, fails both, or refuses the floor.
    report = BenchReport(created_at="now", device={}, data={}, settings={}, thresholds={}, models=[
        _entry("teacher", "pytorch teacher", 0.60),
        _entry("reference", "pytorch reference", 0.66),
        _entry("variant", "pytorch student-qat", 0.80),
        _entry("artifact", "onnx-fp32-s32", 0.66),
        # judged against its QAT student (no drop), and against the teacher for the chain
        _entry("artifact", "onnx-int8-dynamic-qat-s32", 0.80, "int8-dynamic", reference="pytorch student-qat"),
    ])
    apply_gate(report, Gate2Config(min_teacher_retention=1.2))
    by_name = {entry.name: entry for entry in report.models}
    student_artifact, qat_artifact = by_name["onnx-fp32-s32"], by_name["onnx-int8-dynamic-qat-s32"]
    assert student_artifact.teacher_retention == pytest.approx(1.1)
    assert qat_artifact.teacher_retention == pytest.approx(1.3333)
    assert student_artifact.verdict.status == "FAIL"
    assert student_artifact.verdict.reasons == ["retention vs teacher 1.1000 < 1.2"]  # the chain alone fails it
    assert qat_artifact.verdict.status == "PASS", qat_artifact.verdict.reasons
    assert report.verdict == "FAIL"
    assert report.chain["student_retention"] == pytest.approx(1.1)
    assert report.chain["worst_artifact"] == "onnx-fp32-s32"
    assert report.chain["worst_artifact_retention"] == pytest.approx(1.1)


# --- 2. and 3. the search's accuracy budget and its early stop ---------------------------------

# A candidate that cannot learn: random weights (init: random; the default would project the teacher's
# embeddings, already worth 70-80% here) that a learning rate of 1e-9 leaves where they are, near chance,
# far under a teacher that is right on most rows. Its fp32 ONNX file agrees with its PyTorch student
# (gate 2 PASS) and is ~0.01 MB (inside the size budget): only the accuracy budget can reject it.
FROZEN = TrainConfig(epochs=3.0, learning_rate=1e-9, batch_size=16, save_steps=20)
CNN = StudentConfig(type="cnn", embedding_size=8, filters=8, intermediate_size=8, kernel_sizes=(2, 3),
                    init="random", trim_vocabulary=True)


def _chance_search_config(max_accuracy_drop: float, early_stop_points: float) -> SearchConfig:
    return SearchConfig(budget=BudgetConfig(target="onnx", max_size_mb=1.0, max_accuracy_drop=max_accuracy_drop,
                                            seq_len=32),
                        candidates=(CNN,), precisions=("fp32",), textnet_train=FROZEN, textnet_augment=None,
                        early_stop_points=early_stop_points, timing_runs=3, time_limit_minutes=10.0)


def test_the_search_rejects_an_artifact_under_its_accuracy_budget(trained_teacher, data, tmp_path):
    # early stop off (a margin of 100 points puts its floor under 0), so the candidate is measured
    result = search(trained_teacher, data, _chance_search_config(1.0, early_stop_points=100.0), tiny_run(tmp_path))
    report = result.report
    assert report["accuracy_floor"] == pytest.approx(report["teacher_test_accuracy"] - 0.01)
    (record,) = report["candidates"]
    assert record["result"]["status"] == "trained"
    (row,) = record["result"]["artifacts"]
    # everything but the accuracy is inside the budget, so this is the comparison with the floor at work
    assert row["gate2"] == "PASS" and row["size_mb"] <= 1.0
    assert row["accuracy"] < report["accuracy_floor"] - 0.1, (row["accuracy"], report["accuracy_floor"])
    assert row["meets_budget"] is False
    assert result.chosen is None and report["chosen"] is None
    assert "**No artifact met the budget.**" in result.paths["md"].read_text()


def test_the_search_stops_a_candidate_far_under_the_floor_early(trained_teacher, data, tmp_path):
    config = _chance_search_config(1.0, early_stop_points=3.0)
    result = search(trained_teacher, data, config, tiny_run(tmp_path))
    report = result.report
    floor_validation = report["teacher_validation_accuracy"] - (1.0 + 3.0) / 100
    assert floor_validation > 0.7  # the teacher is good enough for a chance-level candidate to be far under it
    (record,) = report["candidates"]
    outcome = record["result"]
    assert outcome["status"] == "stopped-early", outcome
    found = re.fullmatch(r"validation accuracy ([\d.]+) after (\d+) of (\d+) steps, under ([\d.]+) .*", outcome["reason"])
    assert found, outcome["reason"]
    accuracy, step, steps, floor = float(found[1]), int(found[2]), int(found[3]), float(found[4])
    assert floor == pytest.approx(floor_validation, abs=1e-4) and accuracy < floor
    assert steps / 2 <= step < steps  # at the first evaluation past half the training, before its end
    assert "artifacts" not in outcome and result.chosen is None  # nothing exported or measured


# --- 4. QAT trains the fake-quantized model ------------------------------------------------------

QAT_TRAIN = TrainConfig(epochs=1.0, learning_rate=1e-3, batch_size=16, save_steps=20)
DEAD = 0  # the pooled feature made constant 0, on which the classifier's outlier weights sit


@pytest.fixture(scope="module")
def int8_hostile_student(trained_teacher, tmp_path_factory):
    """The fine-tuned teacher with a weight of 1000 in each classifier row, on a pooled feature that is always 0.

    In float nothing changes but that one feature. Under int8 weights per output channel, each row's scale
    becomes 1000 / 127, so every other classifier weight rounds to 0: the logits are the bias alone and the
    model predicts one class for every text. Training cannot undo it in one short epoch (the outlier's input
    is 0, so its gradient is 0, and the other weights would have to grow past 1000 / 254).
    """
    folder = shutil.copytree(trained_teacher, tmp_path_factory.mktemp("hostile") / "student")
    model = load_classifier(folder)
    with torch.no_grad():
        model.bert.pooler.dense.weight[DEAD] = 0.0
        model.bert.pooler.dense.bias[DEAD] = 0.0  # tanh(0): exactly 0 for every text
        model.classifier.weight[:, DEAD] = 1000.0
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hostile_qat(int8_hostile_student, trained_teacher, data, tmp_path_factory):
    return quantization_aware_training(int8_hostile_student, trained_teacher, data, QATConfig(train=QAT_TRAIN),
                                       tiny_run(tmp_path_factory.mktemp("qat-hostile")))


def test_qat_trains_and_measures_the_int8_fake_quantized_model_not_the_float_one(hostile_qat, int8_hostile_student,
                                                                                   data):
    log = hostile_qat.log
    accuracy = log["validation_accuracy"]
    labels = np.asarray(data.splits["validation"]["label"])
    # with the classifier's weights rounded to 0, the logits are its bias: one class for every text
    bias = load_classifier(int8_hostile_student).classifier.bias.detach().numpy()
    one_class = {float(np.mean(labels == label)) for label in (0, 1)}
    assert accuracy["float"] > 0.8  # the planted student is still a good float model
    assert accuracy["fake_quantized_before"] == pytest.approx(float(np.mean(labels == bias.argmax())))
    # the trainer's own evaluations during QAT (and the accuracy after it) saw the int8-rounded classifier too
    evaluated = [entry["eval_accuracy"] for entry in log["log_history"] if "eval_accuracy" in entry]
    assert evaluated and log["steps"] > 0
    assert all(min(abs(value - share) for share in one_class) < 1e-6 for value in evaluated), (evaluated, one_class)
    assert min(abs(accuracy["fake_quantized_after"] - share) for share in one_class) < 1e-6, accuracy
    assert max(one_class) < accuracy["float"] - 0.2  # so a float model in the loop could not look like this
