"""Gate 1: is the student still as good as the teacher on the same test rows?

Writes ``distill_report.json`` (a `Gate1Report`) and a model card (README.md) into the student
folder. A FAIL is a `Gate1Failure` (exit code 1) carrying the full typed report, so callers still
get the numbers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from . import ui
from .atomic import write_json
from .config import GateConfig
from .data import PreparedData, tokenize_split
from .errors import Gate1Failure
from .evaluate import predict_logits
from .hashing import folder_hash
from .layout import DISTILL_LOG, DISTILL_REPORT, MODEL_CARD
from .metrics import agreement, classification_metrics, majority_rate
from .models import count_parameters, load_classifier, load_tokenizer


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestMetrics(_Report):
    accuracy: float
    macro_f1: float
    examples: int
    truncated: int  # test texts longer than the max length, cut
    seconds: float


class ModelSummary(_Report):
    path: str
    model_type: str
    layers: int
    parameters: int
    hash: str
    test: TestMetrics


class Gate1Report(_Report):
    gate: Literal["student-vs-teacher"] = "student-vs-teacher"
    verdict: Literal["PASS", "FAIL"]
    reasons: list[str]
    retention: float  # student accuracy / teacher accuracy
    agreement: float  # fraction of test rows where both predict the same class
    majority_rate: float  # accuracy of always predicting the test split's most frequent label
    thresholds: dict
    teacher: ModelSummary
    student: ModelSummary
    data: dict
    max_length: int
    distillation: dict | None = None  # the student's distill log, without the per-step history


def judge(teacher_accuracy: float, student_accuracy: float, agreement_rate: float, majority: float,
          config: GateConfig) -> tuple[float, list[str]]:
    """Retention (student / teacher accuracy) and the reasons to FAIL (none: PASS)."""
    retention = student_accuracy / teacher_accuracy if teacher_accuracy > 0 else 0.0
    reasons = []
    if retention < config.min_retention:
        reasons.append(f"retention {retention:.4f} < {config.min_retention}")
    if config.min_agreement is not None and agreement_rate < config.min_agreement:
        reasons.append(f"agreement {agreement_rate:.4f} < {config.min_agreement}")
    if config.min_gain_over_majority is not None and student_accuracy - majority < config.min_gain_over_majority:
        reasons.append(f"student accuracy {student_accuracy:.4f} is not {config.min_gain_over_majority} above the "
                       f"majority-class rate {majority:.4f}")
    return retention, reasons


def evaluate_on_test(model_path: Path, data: PreparedData, max_length: int,
                     batch_size: int = 64) -> tuple[ModelSummary, np.ndarray]:
    """Test-split metrics and logits of the model at ``model_path``."""
    tokenizer = load_tokenizer(model_path)
    model = load_classifier(model_path)
    test = tokenize_split(data.splits["test"], tokenizer, max_length, desc=f"tokenizing test for {model_path.name}")
    start = time.perf_counter()
    logits = predict_logits(model, tokenizer, test.dataset, max_length, batch_size)
    metrics = classification_metrics(logits, np.asarray(data.splits["test"]["label"]))
    summary = ModelSummary(
        path=str(model_path), model_type=model.config.model_type, layers=model.config.num_hidden_layers,
        parameters=count_parameters(model), hash=folder_hash(model_path),
        test=TestMetrics(**metrics, truncated=test.truncated, seconds=round(time.perf_counter() - start, 2)))
    return summary, logits


def gate_student(teacher_path: Path, student_path: Path, data: PreparedData, config: GateConfig,
                 max_length: int) -> Gate1Report:
    """Evaluate teacher and student on the test split, judge, write the report and model card.

    Returns the report; raises `Gate1Failure` carrying it when the verdict is FAIL.
    """
    with ui.stage("gate 1", f"student vs teacher on {len(data.splits['test']):,} test rows") as stage:
        teacher, teacher_logits = evaluate_on_test(teacher_path, data, max_length)
        student, student_logits = evaluate_on_test(student_path, data, max_length)
        majority = majority_rate(np.asarray(data.splits["test"]["label"]))
        agreement_rate = agreement(teacher_logits, student_logits)
        retention, reasons = judge(teacher.test.accuracy, student.test.accuracy, agreement_rate, majority, config)
        report = Gate1Report(
            verdict="FAIL" if reasons else "PASS", reasons=reasons, retention=retention, agreement=agreement_rate,
            majority_rate=majority, thresholds=config.model_dump(mode="json"), teacher=teacher, student=student,
            data={k: data.info[k] for k in ("source", "seed", "sizes", "fingerprint")}, max_length=max_length,
            distillation=_distillation_log(student_path))
        write_json(student_path / DISTILL_REPORT, report.model_dump(mode="json"))
        (student_path / MODEL_CARD).write_text(model_card(report, data.labels), encoding="utf-8")
        stage.summary = (f"{report.verdict}: student {student.test.accuracy:.4f} vs teacher {teacher.test.accuracy:.4f}"
                         f" (retention {retention:.4f}, floor {config.min_retention})")
    if reasons:
        raise Gate1Failure(f"gate 1 FAIL: {'; '.join(reasons)} (report: {student_path / DISTILL_REPORT})", report)
    return report


def _distillation_log(student_path: Path) -> dict | None:
    """The student's distill log without its per-step history, when it was made by distill."""
    log = student_path / DISTILL_LOG
    if not log.is_file():
        return None
    return {key: value for key, value in json.loads(log.read_text()).items() if key != "log_history"}


def model_card(report: Gate1Report, labels) -> str:
    teacher, student = report.teacher, report.student
    distillation = report.distillation or {}
    rows = [
        ("accuracy", f"{teacher.test.accuracy:.4f}", f"{student.test.accuracy:.4f}"),
        ("macro-F1", f"{teacher.test.macro_f1:.4f}", f"{student.test.macro_f1:.4f}"),
        ("layers", teacher.layers, student.layers),
        ("parameters", f"{teacher.parameters:,}", f"{student.parameters:,}"),
    ]
    table = "\n".join(f"| {name} | {t} | {s} |" for name, t, s in rows)
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [distillation, mobile-distill, {student.model_type}]
---
# Distilled {student.model_type} student

Distilled with mobile-distill from the teacher at `{teacher.path}` (hash `{teacher.hash}`),
student type `{distillation.get('student_type', distillation.get('recipe', '?'))}`, student layer *i* copied from teacher layer
{distillation.get('layer_map', '?')}[*i*].

Gate 1 (student vs teacher): **{report.verdict}**: retention {report.retention:.4f}
(floor {report.thresholds['min_retention']}), agreement {report.agreement:.4f}; always predicting the
most frequent label would score {report.majority_rate:.4f}.

Test split: {student.test.examples} rows of `{report.data['source']}` (seed {report.data['seed']},
data fingerprint `{report.data['fingerprint']}`); texts cut at {report.max_length} tokens:
{student.test.truncated}.

| | teacher | student |
| --- | --- | --- |
{table}

Labels: {', '.join(labels)}.

```python
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model = AutoModelForSequenceClassification.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
```
"""
