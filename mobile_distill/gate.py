"""Gate 1: is the student still as good as the teacher on the same test rows?

Writes ``distill_report.json`` and a model card (README.md) into the student folder. A FAIL is a
`GateFailure` (exit code 1) carrying the full report, so callers still get the numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import GateConfig
from .data import PreparedData, tokenize_split
from .errors import GateFailure
from .evaluate import agreement, classification_metrics, predict_logits
from .models import count_parameters, folder_hash, load_classifier, load_tokenizer
from .training import write_json

DISTILL_REPORT = "distill_report.json"


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    retention: float
    agreement: float
    reasons: tuple[str, ...]


def judge(teacher_accuracy: float, student_accuracy: float, agreement_rate: float, config: GateConfig) -> GateVerdict:
    """PASS when retention (student / teacher accuracy) and, if set, agreement reach their floors."""
    retention = student_accuracy / teacher_accuracy if teacher_accuracy > 0 else 0.0
    reasons = []
    if retention < config.min_retention:
        reasons.append(f"retention {retention:.4f} < {config.min_retention}")
    if config.min_agreement is not None and agreement_rate < config.min_agreement:
        reasons.append(f"agreement {agreement_rate:.4f} < {config.min_agreement}")
    return GateVerdict(passed=not reasons, retention=retention, agreement=agreement_rate, reasons=tuple(reasons))


def evaluate_on_test(model_path: Path, data: PreparedData, max_length: int, batch_size: int = 64) -> tuple[dict, np.ndarray, dict]:
    """Metrics, logits and a description of the model at ``model_path`` on the test split."""
    tokenizer = load_tokenizer(model_path)
    model = load_classifier(model_path)
    test = tokenize_split(data.splits["test"], tokenizer, max_length, desc=f"tokenizing test for {model_path.name}")
    start = time.perf_counter()
    logits = predict_logits(model, tokenizer, test.dataset, batch_size)
    metrics = classification_metrics(logits, np.asarray(data.splits["test"]["label"]))
    metrics["truncated"] = test.truncated
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    about = {
        "path": str(model_path),
        "model_type": model.config.model_type,
        "layers": model.config.num_hidden_layers,
        "parameters": count_parameters(model),
        "hash": folder_hash(model_path),
    }
    return metrics, logits, about


def gate_student(
    teacher_path: Path, student_path: Path, data: PreparedData, config: GateConfig, max_length: int
) -> dict:
    """Evaluate teacher and student on the test split, judge, write the report and model card.

    Returns the report; raises `GateFailure` with it when the verdict is FAIL.
    """
    teacher_metrics, teacher_logits, teacher_about = evaluate_on_test(teacher_path, data, max_length)
    student_metrics, student_logits, student_about = evaluate_on_test(student_path, data, max_length)
    verdict = judge(teacher_metrics["accuracy"], student_metrics["accuracy"],
                    agreement(teacher_logits, student_logits), config)
    report = {
        "gate": "student-vs-teacher",
        "verdict": "PASS" if verdict.passed else "FAIL",
        "reasons": list(verdict.reasons),
        "retention": verdict.retention,
        "agreement": verdict.agreement,
        "thresholds": config.model_dump(mode="json"),
        "teacher": {**teacher_about, "test": teacher_metrics},
        "student": {**student_about, "test": student_metrics},
        "data": {k: data.info[k] for k in ("source", "seed", "sizes", "fingerprint")},
        "max_length": max_length,
    }
    distill_log = student_path / "distill_log.json"
    if distill_log.is_file():
        log = json.loads(distill_log.read_text())
        report["distillation"] = {k: v for k, v in log.items() if k != "log_history"}
    write_json(student_path / DISTILL_REPORT, report)
    (student_path / "README.md").write_text(model_card(report, data.labels), encoding="utf-8")
    if not verdict.passed:
        raise GateFailure(f"gate 1 FAIL: {'; '.join(verdict.reasons)} (report: {student_path / DISTILL_REPORT})", report)
    return report


def model_card(report: dict, labels) -> str:
    teacher, student = report["teacher"], report["student"]
    distillation = report.get("distillation", {})
    rows = [
        ("accuracy", f"{teacher['test']['accuracy']:.4f}", f"{student['test']['accuracy']:.4f}"),
        ("macro-F1", f"{teacher['test']['macro_f1']:.4f}", f"{student['test']['macro_f1']:.4f}"),
        ("layers", teacher["layers"], student["layers"]),
        ("parameters", f"{teacher['parameters']:,}", f"{student['parameters']:,}"),
    ]
    table = "\n".join(f"| {name} | {t} | {s} |" for name, t, s in rows)
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [distillation, mobile-distill, {student['model_type']}]
---
# Distilled {student['model_type']} student

Distilled with mobile-distill from the teacher at `{teacher['path']}` (hash `{teacher['hash']}`),
recipe `{distillation.get('recipe', '?')}`, student layer *i* copied from teacher layer
{distillation.get('layer_map', '?')}[*i*].

Gate 1 (student vs teacher): **{report['verdict']}**: retention {report['retention']:.4f}
(floor {report['thresholds']['min_retention']}), agreement {report['agreement']:.4f}.

Test split: {student['test']['examples']} rows of `{report['data']['source']}` (seed {report['data']['seed']},
data fingerprint `{report['data']['fingerprint']}`); texts cut at {report['max_length']} tokens:
{student['test']['truncated']}.

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
