"""Distil stage: train the student against the teacher with transformers.Trainer.

`DistillationTrainer` overrides only `compute_loss` and `log`, so checkpoints, resume, gradient
accumulation, progress bars and multi-process (torchrun/DDP) training all come from Trainer.

Every token-level loss is averaged per example first and then over the batch, so that two
processes with half the batch each compute the same gradient as one process with the whole batch.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
import torch.nn.functional as F
from transformers import DataCollatorWithPadding, Trainer
from transformers.modeling_outputs import SequenceClassifierOutput

from . import ui
from .config import DistillConfig, LossWeights, StudentConfig
from .data import PreparedData, tokenize_split
from .evaluate import trainer_metrics
from .hashing import folder_hash, settings_hash
from .layout import DISTILL_LOG, TRAINER_LOG
from .models import (
    count_parameters,
    forward_inputs,
    load_classifier,
    load_tokenizer,
    require_labels,
)
from .student import build_student
from .training import (
    last_checkpoint,
    save_trained_model,
    show_progress,
    training_arguments,
)


def _per_example_token_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real (unpadded) tokens of each example, then over examples. values: (batch, seq)."""
    mask = mask.to(values.dtype)
    return ((values * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()


def kd_loss(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """Soft-target KL(teacher || student) at temperature T, scaled by T^2 (Hinton et al. 2015)."""
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean") * temperature**2


def ce_loss(student_logits, labels) -> torch.Tensor:
    """Hard-label cross-entropy over labelled rows (transfer-set rows carry label -100)."""
    labelled = labels >= 0
    if not labelled.any():
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits[labelled], labels[labelled])


def cosine_loss(student_hidden, teacher_hidden, mask) -> torch.Tensor:
    """DistilBERT's L_cos: 1 - cos(student, teacher) per token, on real tokens."""
    return _per_example_token_mean(1 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1), mask)


def hidden_mse_loss(student_hidden, teacher_hidden, mask) -> torch.Tensor:
    return _per_example_token_mean((student_hidden - teacher_hidden).pow(2).mean(-1), mask)


def attention_mse_loss(student_attention, teacher_attention, mask) -> torch.Tensor:
    """MSE between attention maps (batch, heads, query, key), over real query positions."""
    per_query = (student_attention - teacher_attention).pow(2).mean(dim=(1, 3))  # (batch, query)
    return _per_example_token_mean(per_query, mask)


def distillation_losses(student_out, teacher_out, labels, mask, layer_map, temperature, weights: LossWeights):
    """Each active loss term, unweighted. Hidden state i+1 is the output of encoder layer i."""
    terms = {}
    if weights.kd > 0:
        terms["kd"] = kd_loss(student_out.logits, teacher_out.logits, temperature)
    if weights.ce > 0 and labels is not None:
        terms["ce"] = ce_loss(student_out.logits, labels)
    pairs = [(s + 1, t + 1) for s, t in enumerate(layer_map)]
    if weights.cos > 0:
        terms["cos"] = torch.stack([cosine_loss(student_out.hidden_states[s], teacher_out.hidden_states[t], mask)
                                    for s, t in pairs]).mean()
    if weights.hidden_mse > 0:
        terms["hidden_mse"] = torch.stack([hidden_mse_loss(student_out.hidden_states[s], teacher_out.hidden_states[t], mask)
                                           for s, t in pairs]).mean()
    if weights.attention_mse > 0:
        terms["attention_mse"] = torch.stack([attention_mse_loss(student_out.attentions[s - 1], teacher_out.attentions[t - 1], mask)
                                              for s, t in pairs]).mean()
    return terms


class DistillationTrainer(Trainer):
    """A Trainer whose loss is the weighted sum of distillation terms, each logged as ``loss_<term>``."""

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean; Trainer divides by accumulation

    def __init__(self, *args, teacher, layer_map, temperature: float, weights: LossWeights, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher.to(self.args.device).eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.layer_map = tuple(layer_map)
        self.temperature = temperature
        self.weights = weights
        self._term_sums = defaultdict(float)
        self._term_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.get("labels")
        features = {k: v for k, v in inputs.items() if k != "labels"}
        hidden = self.weights.cos > 0 or self.weights.hidden_mse > 0
        attentions = self.weights.attention_mse > 0
        with torch.no_grad():
            teacher_out = self.teacher(**forward_inputs(self.teacher, features), output_hidden_states=hidden,
                                       output_attentions=attentions)
        student = self.accelerator.unwrap_model(model)
        student_out = model(**forward_inputs(student, features), output_hidden_states=hidden, output_attentions=attentions)
        terms = distillation_losses(student_out, teacher_out, labels, features["attention_mask"], self.layer_map,
                                    self.temperature, self.weights)
        loss = sum(getattr(self.weights, name) * value for name, value in terms.items())
        if model.training:
            for name, value in terms.items():
                self._term_sums[name] += float(value.detach())
            self._term_count += 1
        # Only the logits go back to Trainer's evaluation loop (hidden states would be gathered too).
        return (loss, SequenceClassifierOutput(logits=student_out.logits)) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_count:
            logs.update({f"loss_{name}": total / self._term_count for name, total in self._term_sums.items()})
            self._term_sums.clear()
            self._term_count = 0
        super().log(logs, start_time)


def distill_settings(teacher_path, data, config, student_config, seed, max_length, transfer_texts=None) -> str:
    """Hash of everything that determines the student: names its checkpoints and marks it done."""
    parts = [folder_hash(teacher_path), data.fingerprint, config.model_dump(mode="json"),
             student_config.model_dump(mode="json"), seed, max_length,
             transfer_texts._fingerprint if transfer_texts is not None else None]
    return settings_hash(*parts)


@dataclass(frozen=True)
class DistillResult:
    path: Path
    log: dict


def distill(
    teacher_path: Path,
    data: PreparedData,
    config: DistillConfig,
    student_config: StudentConfig,
    output_dir: Path,
    checkpoints_dir: Path,
    seed: int = 42,
    max_length: int = 64,
    transfer_texts: datasets.Dataset | None = None,
) -> DistillResult:
    """Build the student from the teacher at ``teacher_path`` and distil it on ``data``'s train split.

    Checkpoints go to ``checkpoints_dir/student-<settings hash>``, and a rerun with the same settings
    resumes from the newest one there (other settings never resume from them). Writes the best
    student (by validation accuracy) to ``output_dir`` atomically, with tokenizer, labels, loss log
    and loss-curve plot.
    """
    epochs = f"{config.train.epochs:g} epoch(s)"
    with ui.stage("distill", f"{student_config.recipe} student on {len(data.splits['train']):,} texts, {epochs}") as stage:
        start = time.perf_counter()
        settings = distill_settings(teacher_path, data, config, student_config, seed, max_length, transfer_texts)
        checkpoints_dir = checkpoints_dir / f"student-{settings}"
        tokenizer = load_tokenizer(teacher_path)
        attention = {"attn_implementation": "eager"} if config.weights.attention_mse > 0 else {}
        teacher = load_classifier(teacher_path, **attention)
        require_labels(teacher_path, data.labels)
        student = build_student(teacher, student_config)
        if attention:
            student.model.set_attn_implementation("eager")  # sdpa kernels return no attention maps
        student_tokenizer = _student_tokenizer(tokenizer, student.model)
        train = tokenize_split(data.splits["train"], tokenizer, max_length, desc="tokenizing train")
        validation = tokenize_split(data.splits["validation"], tokenizer, max_length, desc="tokenizing validation")
        train_set, transfer_count = _with_transfer(train.dataset, transfer_texts, tokenizer, max_length)
        trainer = DistillationTrainer(
            model=student.model,
            args=training_arguments(config.train, checkpoints_dir, seed),
            train_dataset=train_set,
            eval_dataset=validation.dataset,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=trainer_metrics,
            teacher=teacher,
            layer_map=student.layer_map,
            temperature=config.temperature,
            weights=config.weights,
        )
        show_progress(trainer, "distilling", checkpoints_dir / TRAINER_LOG)
        trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints_dir))
        log = {
            "settings": settings,
            "recipe": student.recipe,
            "layer_map": list(student.layer_map),
            "teacher": str(teacher_path),
            "parameters": {"teacher": count_parameters(teacher), "student": count_parameters(trainer.model)},
            "config": config.model_dump(mode="json"),
            "examples": {"train": len(train.dataset), "transfer": transfer_count, "validation": len(validation.dataset)},
            "truncated": {"train": train.truncated, "validation": validation.truncated, "max_length": max_length},
            "steps": trainer.state.global_step,
            "best_validation_accuracy": trainer.state.best_metric,
            "seconds": round(time.perf_counter() - start, 1),
            "log_history": trainer.state.log_history,
        }
        save_trained_model(trainer, student_tokenizer, data.labels, output_dir, DISTILL_LOG, log, "distillation")
        stage.summary = (f"{trainer.state.best_metric or 0:.4f} validation accuracy, "
                         f"{log['parameters']['student']:,} parameters (teacher {log['parameters']['teacher']:,})")
    return DistillResult(path=output_dir, log=log)


def _student_tokenizer(tokenizer, student):
    """The teacher's tokenizer, told which inputs the student takes (DistilBERT: no token_type_ids)."""
    student_tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, local_files_only=True)
    student_tokenizer.model_input_names = [name for name in tokenizer.model_input_names
                                           if name in forward_inputs(student, dict.fromkeys(tokenizer.model_input_names))]
    student_tokenizer.init_kwargs["model_input_names"] = student_tokenizer.model_input_names
    return student_tokenizer


def _with_transfer(train: datasets.Dataset, transfer_texts, tokenizer, max_length: int):
    """Append unlabeled transfer texts with label -100: they teach through the teacher's soft targets only."""
    if transfer_texts is None or len(transfer_texts) == 0:
        return train, 0
    transfer = tokenize_split(transfer_texts, tokenizer, max_length, desc="tokenizing transfer set").dataset
    transfer = transfer.add_column("labels", [-100] * len(transfer)).cast(train.features)
    return datasets.concatenate_datasets([train, transfer]), len(transfer)
