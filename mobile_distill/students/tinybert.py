"""The ``tinybert`` recipe (Jiao et al. 2020, TinyBERT): a narrower, shallower `BertForSequenceClassification`.

Its width differs from the teacher's, so nothing can be copied as is. With ``init: teacher`` the
embedding tables are the teacher's projected onto their top principal directions (an SVD of the
teacher's word-embedding table; the position and token-type tables, which are added to it, through
the same basis), and the pooler and classifier are the teacher's seen through that basis; the
encoder layers start random, as in the paper, and learn from the teacher's through the distillation
losses (which compare hidden states across widths through a learnable projection). The student
report lists which tensors were projected and which are random.
"""

from __future__ import annotations

from ..families import family
from .base import (
    Architecture,
    Student,
    StudentType,
    WeightOrigins,
    narrow_config_fields,
    narrow_student,
    principal_projection,
)

STUDENT_TYPE = StudentType(
    name="tinybert",
    summary="a narrower, shallower BERT; embeddings projected from the teacher's (SVD), layers learned "
            "through hidden-state and attention losses, two stages",
    builder="mobile_distill.students.tinybert:build",
    presets={
        "tinybert-4l-312": {"layers": 4, "hidden_size": 312, "num_heads": 12, "intermediate_size": 1200},
        "tinybert-3l-256": {"layers": 3, "hidden_size": 256, "num_heads": 4, "intermediate_size": 1024},
        "tinybert-2l-128": {"layers": 2, "hidden_size": 128, "num_heads": 2, "intermediate_size": 512},
    },
    default_preset="tinybert-4l-312",
    schedule="two-stage",
    # TinyBERT's losses: embedding, hidden-state and attention-score MSE, then soft targets only
    default_weights={"embedding_mse": 1.0, "hidden_mse": 1.0, "attention_mse": 1.0, "kd": 1.0},
    paper="Jiao et al. 2020, TinyBERT",
)


def build(teacher, architecture: Architecture) -> Student:
    from transformers import BertConfig, BertForSequenceClassification

    t = teacher.config
    config = BertConfig(
        **narrow_config_fields(teacher, architecture), hidden_act=getattr(t, "hidden_act", "gelu"),
        hidden_dropout_prob=getattr(t, "hidden_dropout_prob", 0.1),
        attention_probs_dropout_prob=getattr(t, "attention_probs_dropout_prob", 0.1),
        layer_norm_eps=getattr(t, "layer_norm_eps", 1e-12))
    model = BertForSequenceClassification(config)
    origins = project_from_teacher(model, teacher) if architecture.init == "teacher" else WeightOrigins()
    return narrow_student(model, architecture, STUDENT_TYPE.name, origins)


def project_from_teacher(model, teacher) -> WeightOrigins:
    """Embeddings, pooler and classifier of a narrower BERT from the teacher's, through the principal basis
    of the teacher's word-embedding table."""
    import torch

    source = teacher.base_model.embeddings
    target = model.bert.embeddings
    width = model.config.hidden_size
    origins = WeightOrigins(notes=[f"embeddings projected onto the top {width} principal directions of the "
                                   "teacher's word-embedding table"])
    with torch.no_grad():
        words, basis = principal_projection(source.word_embeddings.weight, width)
        target.word_embeddings.weight.copy_(words)
        origins.projected.append("bert.embeddings.word_embeddings.weight")
        positions = source.position_embeddings.weight.float()
        offset = family(teacher).position_offset  # RoBERTa numbers positions from padding_idx + 1 = 2
        positions = torch.cat([positions[offset:], positions[:offset]])
        target.position_embeddings.weight.copy_(positions[: target.position_embeddings.weight.shape[0]] @ basis)
        origins.projected.append("bert.embeddings.position_embeddings.weight")
        if getattr(source, "token_type_embeddings", None) is not None:
            types = source.token_type_embeddings.weight.float() @ basis
            target.token_type_embeddings.weight[: types.shape[0]].copy_(types)
            origins.projected.append("bert.embeddings.token_type_embeddings.weight")
        origins.projected += _project_head(model, teacher, basis)
    return origins


def _project_head(model, teacher, basis) -> list[str]:
    """The pooler (hidden x hidden) as basis^T W basis and the classifier (labels x hidden) as W basis."""
    state = teacher.state_dict()
    prefix = teacher.base_model_prefix
    done = []
    pooler = f"{prefix}.pooler.dense"
    if f"{pooler}.weight" in state and model.bert.pooler is not None:
        model.bert.pooler.dense.weight.copy_(basis.T @ state[f"{pooler}.weight"].float() @ basis)
        model.bert.pooler.dense.bias.copy_(state[f"{pooler}.bias"].float() @ basis)
        done += ["bert.pooler.dense.weight", "bert.pooler.dense.bias"]
    if "classifier.weight" in state and state["classifier.weight"].shape[1] == basis.shape[0]:
        model.classifier.weight.copy_(state["classifier.weight"].float() @ basis)
        model.classifier.bias.copy_(state["classifier.bias"].float())
        done += ["classifier.weight", "classifier.bias"]
    return done
