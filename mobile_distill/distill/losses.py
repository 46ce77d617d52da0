"""The distillation loss terms, each a function with a known answer (tests/test_losses.py).

Every token-level term is averaged over each example's real tokens first and then over the batch,
so two processes with half the batch each compute the gradient one process computes on the whole
batch (distillation under torchrun gives the same student).

Attention terms compare attention *scores* (query . key / sqrt(d) per head, before the softmax): the
mean squared error of the scores over real query and key positions (TinyBERT), or the KL divergence
between the softmax distributions over real keys (MobileBERT's attention transfer). When student and
teacher have different head counts the scores are averaged over heads first (``mode="mean"``); with
equal counts head i is compared with head i (``mode="per-head"``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TERMS = ("kd", "logit_mse", "ce", "cos", "hidden_mse", "embedding_mse", "attention_mse", "attention_kl")
INTERMEDIATE = frozenset({"cos", "hidden_mse", "embedding_mse", "attention_mse", "attention_kl"})
PREDICTION = frozenset({"kd", "logit_mse", "ce"})
ATTENTION = frozenset({"attention_mse", "attention_kl"})


def per_example_token_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real (unpadded) tokens of each example, then over examples. values: (batch, seq)."""
    mask = mask.to(values.dtype)
    return ((values * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()


def kd_loss(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """Soft-target KL(teacher || student) at temperature T, scaled by T^2 (Hinton et al. 2015). Its gradient is
    that of TinyBERT's soft cross-entropy: the two differ by the teacher's entropy, a constant."""
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean") * temperature**2


def logit_mse_loss(student_logits, teacher_logits) -> torch.Tensor:
    """Mean squared error between the logits, per class then over the batch (Tang et al. 2019: it
    matched or beat soft-target cross-entropy for their BiLSTM student)."""
    return F.mse_loss(student_logits, teacher_logits)


def ce_loss(student_logits, labels) -> torch.Tensor:
    """Hard-label cross-entropy over labelled rows (transfer-set and augmented rows carry label -100)."""
    labelled = labels >= 0
    if not labelled.any():
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits[labelled], labels[labelled])


def cosine_loss(student_hidden, teacher_hidden, mask) -> torch.Tensor:
    """DistilBERT's L_cos: 1 - cos(student, teacher) per token, on real tokens."""
    return per_example_token_mean(1 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1), mask)


def hidden_mse_loss(student_hidden, teacher_hidden, mask) -> torch.Tensor:
    """MSE per token between (projected) student and teacher states, on real tokens: TinyBERT's L_hidn and
    L_embd, MobileBERT's feature-map transfer."""
    return per_example_token_mean((student_hidden - teacher_hidden).pow(2).mean(-1), mask)


def _heads(student, teacher, mode: str | None):
    """Per head when asked (or, unasked, when the counts agree); else the mean over heads on both sides."""
    if mode == "mean" or student.shape[1] != teacher.shape[1]:
        if mode == "per-head":
            raise ValueError(f"per-head attention losses need equal head counts ({student.shape[1]} vs "
                             f"{teacher.shape[1]})")
        return student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    return student, teacher


def attention_mse_loss(student_scores, teacher_scores, mask, mode: str | None = None) -> torch.Tensor:
    """MSE between attention scores (batch, heads, query, key) over real queries and keys (TinyBERT's L_attn)."""
    student_scores, teacher_scores = _heads(student_scores, teacher_scores, mode)
    keys = mask[:, None, None, :].to(student_scores.dtype)
    per_query = ((student_scores - teacher_scores).pow(2) * keys).sum(-1) / keys.sum(-1).clamp(min=1)
    return per_example_token_mean(per_query.mean(1), mask)


def attention_kl_loss(student_scores, teacher_scores, mask, mode: str | None = None) -> torch.Tensor:
    """KL(teacher || student) between attention distributions over real keys, per real query (MobileBERT)."""
    student_scores, teacher_scores = _heads(student_scores, teacher_scores, mode)
    hidden = (mask[:, None, None, :] == 0)
    log_student = F.log_softmax(student_scores.masked_fill(hidden, -1e4), dim=-1)
    log_teacher = F.log_softmax(teacher_scores.masked_fill(hidden, -1e4), dim=-1)
    per_query = (log_teacher.exp() * (log_teacher - log_student)).masked_fill(hidden, 0.0).sum(-1)
    return per_example_token_mean(per_query.mean(1), mask)
