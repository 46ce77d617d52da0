"""Quantization-aware training (see the package docstring)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import ui
from ..config import QATConfig
from ..context import RunContext
from ..data import PreparedData, collator_for, tokenize_split
from ..errors import ConfigError
from ..evaluate import predict_logits, trainer_metrics
from ..hashing import folder_hash, settings_hash
from ..layout import QAT_LOG, TRAINER_LOG
from ..metrics import classification_metrics
from ..models import (
    count_parameters,
    load_classifier,
    load_tokenizer,
    read_labels,
    require_labels,
)
from ..training import (
    last_checkpoint,
    save_trained_model,
    show_progress,
    training_arguments,
)

__all__ = ["QATResult", "fake_quantize", "qat_settings", "quantization_aware_training", "to_float"]


@dataclass(frozen=True)
class QATResult:
    path: Path
    log: dict


def qat_settings(student_path: Path, teacher_path: Path, data: PreparedData, config: QATConfig,
                 context: RunContext) -> str:
    """Hash of everything that determines the QAT student: names its checkpoints and marks it done."""
    return settings_hash(folder_hash(student_path), folder_hash(teacher_path), data.fingerprint,
                         config.model_dump(mode="json"), context.seed, context.max_length)


def fake_quantize(model):
    """``model`` with every nn.Linear fake-quantized (int8 weights per channel, int8 activations per token),
    in place. Refuses a model with no nn.Linear to train through, or with layers QAT would miss."""
    from torchao.quantization import quantize_
    from torchao.quantization.qat import IntxFakeQuantizeConfig
    from torchao.quantization.qat import QATConfig as FakeQuantization

    missed = sorted({type(m).__name__ for m in model.modules() if isinstance(m, (torch.nn.LSTM, torch.nn.Conv1d))})
    if missed:
        raise ConfigError(f"qat: the {model.config.model_type} student computes with {', '.join(missed)}, which "
                          "quantization-aware training does not fake-quantize (only nn.Linear); export it with "
                          "post-training int8 (auto_fallback keeps sensitive layers in float)", fields=("qat",))
    activations = IntxFakeQuantizeConfig(torch.int8, "per_token", is_symmetric=False)
    weights = IntxFakeQuantizeConfig(torch.int8, "per_channel", is_symmetric=True)
    quantize_(model, FakeQuantization(activation_config=activations, weight_config=weights, step="prepare"))
    return model


def to_float(model):
    """The fake-quantized layers swapped back to nn.Linear with their trained weights, in place."""
    from torchao.quantization import quantize_
    from torchao.quantization.qat import QATConfig as FakeQuantization

    quantize_(model, FakeQuantization(step="convert"))
    return model


def quantization_aware_training(student_path: Path, teacher_path: Path, data: PreparedData, config: QATConfig,
                                context: RunContext) -> QATResult:
    """Train the student at ``student_path`` with int8 fake quantization against the teacher (resuming from
    ``context.checkpoints``); write the plain student, ``qat_log.json`` and a loss plot to RUN/student-qat."""
    from transformers import set_seed

    from ..distill.losses import TERMS
    from ..distill.trainer import DistillationModule, DistillationTrainer

    start = time.perf_counter()
    settings = qat_settings(student_path, teacher_path, data, config, context)
    seed, max_length = context.seed, context.max_length
    require_labels(student_path, data.labels)
    require_labels(teacher_path, data.labels)
    tokenizer = load_tokenizer(student_path)
    teacher, student = load_classifier(teacher_path), load_classifier(student_path)
    with ui.stage("qat", f"int8 quantization-aware training of {student_path} on "
                  f"{len(data.splits['train']):,} texts") as stage:
        set_seed(seed)
        train = tokenize_split(data.splits["train"], tokenizer, max_length, desc="tokenizing train").dataset
        validation = tokenize_split(data.splits["validation"], tokenizer, max_length, desc="tokenizing validation")
        labels = np.asarray(validation.dataset["labels"])
        float_accuracy = _accuracy(student, tokenizer, validation.dataset, labels, max_length)
        fake_quantize(student)
        before = _accuracy(student, tokenizer, validation.dataset, labels, max_length)
        folder = context.checkpoints / f"qat-{settings}"
        weights = {"kd": config.kd, "ce": config.ce}
        trainer = DistillationTrainer(
            model=DistillationModule(student, {}), args=training_arguments(config.train, folder, seed),
            train_dataset=train, eval_dataset=validation.dataset, processing_class=tokenizer,
            data_collator=collator_for(tokenizer, max_length, teacher.config.model_type, student.config.model_type),
            compute_metrics=trainer_metrics, teacher=teacher, pairs=(), temperature=config.temperature,
            weights={term: weights.get(term, 0.0) for term in TERMS}, heads="mean")
        show_progress(trainer, "qat", folder / TRAINER_LOG)
        trainer.train(resume_from_checkpoint=last_checkpoint(folder))
        after = _accuracy(student, tokenizer, validation.dataset, labels, max_length)
        to_float(student)
        log = {"settings": settings, "student": str(student_path), "teacher": str(teacher_path),
               "scheme": {"weights": "int8, symmetric, per output channel", "activations":
                          "int8, asymmetric, per token, range at run time", "layers": "every nn.Linear"},
               "validation_accuracy": {"float": float_accuracy, "fake_quantized_before": before,
                                       "fake_quantized_after": after},
               "parameters": count_parameters(student), "config": config.model_dump(mode="json"),
               "steps": trainer.state.global_step, "seconds": round(time.perf_counter() - start, 1),
               "log_history": trainer.state.log_history}
        save_trained_model(student, tokenizer, read_labels(student_path), context.layout.qat_student, QAT_LOG, log,
                           "quantization-aware training", trainer.state.log_history)
        stage.summary = (f"validation accuracy with int8 fake quantization {before:.4f} -> {after:.4f} "
                         f"(float student {float_accuracy:.4f})")
    return QATResult(path=context.layout.qat_student, log=log)


def _accuracy(model, tokenizer, dataset, labels: np.ndarray, max_length: int) -> float:
    logits = predict_logits(model.eval(), tokenizer, dataset, max_length)
    return float(classification_metrics(logits, labels)["accuracy"])
