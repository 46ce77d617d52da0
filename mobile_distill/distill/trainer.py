"""What a distillation stage trains (`DistillationModule`: the student and the learnable projections W
that compare it with the teacher across widths) and how (`DistillationTrainer`, a transformers
Trainer that overrides only `compute_loss` and `log`, so checkpoints, resume, gradient accumulation
and multi-process DDP all come from Trainer).

The projections belong to the trainer: they are checkpointed with the student (Trainer saves the
module's state dict, so a resumed stage continues them), and only the student is saved at the end,
a plain `transformers` model.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from transformers import Trainer
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import ModelOutput

from ..models import forward_inputs
from .losses import (
    ATTENTION,
    attention_kl_loss,
    attention_mse_loss,
    ce_loss,
    cosine_loss,
    hidden_mse_loss,
    kd_loss,
    logit_mse_loss,
)
from .taps import AttentionTap


@dataclass
class DistillationOutput(ModelOutput):
    """The student's logits and hidden states, and those states through the projections (or None)."""

    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    projected: tuple[torch.Tensor, ...] | None = None


class DistillationModule(torch.nn.Module):
    """The student and the projections W (student width -> teacher width) that its losses go through."""

    main_input_name = "input_ids"

    def __init__(self, student, projections: dict[str, torch.nn.Module]):
        super().__init__()
        self.student = student
        self.projections = torch.nn.ModuleDict(projections)

    @property
    def config(self):
        return self.student.config

    def forward(self, **inputs):
        """The student's output; with hidden states asked for and projections present, also
        ``projected``: every hidden state through its projection (index 0, the embeddings, through W_e).
        The projections run here rather than in the loss because DDP only accounts for parameters that a
        forward uses (a projection applied in compute_loss fails under torchrun)."""
        output = self.student(**inputs)
        projected = None
        if self.projections and output.hidden_states is not None:
            projected = tuple(self.project("embedding" if i == 0 else "hidden", state)
                              for i, state in enumerate(output.hidden_states))
        # a ModelOutput, so DDP finds every tensor (and through them the parameters) the loss will use
        return DistillationOutput(logits=output.logits, hidden_states=output.hidden_states, projected=projected)

    def project(self, name: str, states: torch.Tensor) -> torch.Tensor:
        return self.projections[name](states) if name in self.projections else states


def width(model) -> int:
    config = model.config
    return getattr(config, "hidden_size", None) or config.dim


def embedding_width(model) -> int:
    """The width of the embedding layer's output (hidden_states[0]): MobileBERT's is its inter-block width."""
    return width(model)


def make_projections(student, teacher, weights: dict[str, float]) -> dict[str, torch.nn.Module]:
    """A learnable linear map for each state a loss compares across different widths (TinyBERT's W_h and W_e)."""
    projections = {}
    if width(student) != width(teacher) and any(weights[t] > 0 for t in ("cos", "hidden_mse")):
        projections["hidden"] = torch.nn.Linear(width(student), width(teacher))
    if embedding_width(student) != width(teacher) and weights["embedding_mse"] > 0:
        projections["embedding"] = torch.nn.Linear(embedding_width(student), width(teacher))
    return projections


class TeacherTrainer(Trainer):
    """What every distillation trainer shares: a frozen teacher on the training device, the weights of
    the loss terms (those above 0), and each term's mean since the last log logged as ``loss_<term>``."""

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean; Trainer divides by accumulation

    def __init__(self, *args, teacher, temperature: float, weights: dict[str, float], **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher = teacher.to(self.args.device).eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.temperature = temperature
        self.weights = {name: value for name, value in weights.items() if value > 0}
        self._term_sums = defaultdict(float)
        self._term_count = 0

    def weighted_sum(self, terms: dict[str, torch.Tensor], record: bool = True) -> torch.Tensor:
        """The loss; with ``record`` (training steps), the terms also count towards the next log."""
        if record:
            for name, value in terms.items():
                self._term_sums[name] += float(value.detach())
            self._term_count += 1
        return sum(self.weights[name] * value for name, value in terms.items())

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_count:
            logs.update({f"loss_{name}": total / self._term_count for name, total in self._term_sums.items()})
            self._term_sums.clear()
            self._term_count = 0
        super().log(logs, start_time)


class DistillationTrainer(TeacherTrainer):
    """A Trainer whose loss is the weighted sum of distillation terms, each logged as ``loss_<term>``.

    ``pairs``: (student layer, teacher layer) whose intermediate losses count in this stage.
    """

    def __init__(self, *args, pairs, heads: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.pairs = tuple(pairs)
        self.heads = heads

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.get("labels")
        features = {k: v for k, v in inputs.items() if k != "labels"}
        module = self.accelerator.unwrap_model(model)
        hidden = any(term in self.weights for term in ("cos", "hidden_mse", "embedding_mse"))
        attention = bool(ATTENTION & set(self.weights))
        with torch.no_grad(), self._tap(self.teacher, 1, attention) as teacher_tap:
            teacher_out = self.teacher(**forward_inputs(self.teacher, features), output_hidden_states=hidden)
        with self._tap(module.student, 0, attention) as student_tap:
            student_out = model(**forward_inputs(module.student, features), output_hidden_states=hidden)
        terms = self.terms(module, student_out, teacher_out, student_tap, teacher_tap, labels,
                           features["attention_mask"])
        loss = self.weighted_sum(terms, record=model.training)
        # Only the logits go back to Trainer's evaluation loop (hidden states would be gathered too).
        return (loss, SequenceClassifierOutput(logits=student_out.logits)) if return_outputs else loss

    def _tap(self, model, side: int, attention: bool):
        return AttentionTap(model, [pair[side] for pair in self.pairs]) if attention else nullcontext()

    def terms(self, module, student_out, teacher_out, student_tap, teacher_tap, labels, mask) -> dict:
        """Each active loss term, unweighted. Hidden state i + 1 is the output of encoder layer i."""
        weights, terms = self.weights, {}
        if "kd" in weights:
            terms["kd"] = kd_loss(student_out.logits, teacher_out.logits, self.temperature)
        if "logit_mse" in weights:
            terms["logit_mse"] = logit_mse_loss(student_out.logits, teacher_out.logits)
        if "ce" in weights and labels is not None:
            terms["ce"] = ce_loss(student_out.logits, labels)
        if "embedding_mse" in weights:
            terms["embedding_mse"] = hidden_mse_loss(_projected(student_out, 0),
                                                     teacher_out.hidden_states[0], mask)
        states = [(_projected(student_out, s + 1), teacher_out.hidden_states[t + 1])
                  for s, t in self.pairs] if "cos" in weights or "hidden_mse" in weights else []
        if "cos" in weights:
            terms["cos"] = torch.stack([cosine_loss(s, t, mask) for s, t in states]).mean()
        if "hidden_mse" in weights:
            terms["hidden_mse"] = torch.stack([hidden_mse_loss(s, t, mask) for s, t in states]).mean()
        for name, loss in (("attention_mse", attention_mse_loss), ("attention_kl", attention_kl_loss)):
            if name in weights:
                terms[name] = torch.stack([loss(student_tap.scores(s), teacher_tap.scores(t), mask, self.heads)
                                           for s, t in self.pairs]).mean()
        return terms



def _projected(student_out, index: int):
    """Hidden state ``index`` of the student (0: the embeddings), through its projection where it has one."""
    projected = student_out.projected
    return projected[index] if projected is not None else student_out.hidden_states[index]
