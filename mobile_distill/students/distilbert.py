"""The ``distilbert`` recipe (Sanh et al. 2019): a `DistilBertForSequenceClassification` with the
teacher's hidden size and a subset of its layers, no token-type embeddings and no pooler.

The weight copy is written here by hand because no library maps BERT/RoBERTa parameters onto
DistilBERT's layout (Hugging Face's own `extract_distilbert.py` is a research script, not an API).
"""

from __future__ import annotations

import warnings

from ..errors import ModelError
from ..families import family
from .base import Architecture, Student, StudentType, WeightOrigins
from .bert import fewer_layers_of, load_exactly

# BERT/RoBERTa encoder-layer parameter names -> DistilBERT's, for one layer.
_LAYER_NAMES_TO_DISTILBERT = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}
_DISTILBERT_LAYER_NORM_EPS = 1e-12  # hard-coded in transformers' DistilBERT


STUDENT_TYPE = StudentType(
    name="distilbert",
    summary="DistilBERT class, a subset of the teacher's layers at its width; no token types, no pooler",
    builder="mobile_distill.students.distilbert:build",
    keeps_teacher_width=True,
    paper="Sanh et al. 2019, DistilBERT",
)


def build(teacher, architecture: Architecture) -> Student:
    layer_map = architecture.layer_map
    if teacher.config.model_type == "distilbert":
        model, origins = fewer_layers_of(teacher, layer_map)
    else:
        model = _distilbert_from(teacher, layer_map)
        origins = WeightOrigins(copied=[name for name, _ in model.named_parameters()],
                                notes=["segment 0's token-type vector folded into the position table",
                                       "the teacher's pooler became pre_classifier (followed by ReLU, not tanh)"])
    return Student(model=model, layer_map=layer_map, type=STUDENT_TYPE.name, architecture=architecture, origins=origins)


def _distilbert_from(teacher, layer_map: tuple[int, ...]):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model_type = teacher.config.model_type
    if model_type not in ("bert", "roberta"):
        raise ModelError(f"the distilbert student takes a bert, roberta or distilbert teacher, not {model_type!r}")
    t = teacher.config
    if getattr(t, "position_embedding_type", "absolute") != "absolute":
        raise ModelError(f"teacher uses {t.position_embedding_type} position embeddings; DistilBERT has absolute ones only")
    if abs(t.layer_norm_eps - _DISTILBERT_LAYER_NORM_EPS) > 1e-9:
        warnings.warn(
            f"teacher layer_norm_eps={t.layer_norm_eps} but DistilBERT uses {_DISTILBERT_LAYER_NORM_EPS}: "
            "the copied layers will not reproduce the teacher exactly (distillation corrects this)",
            stacklevel=2,
        )
    state = _distilbert_state(teacher, layer_map)
    positions = state["distilbert.embeddings.position_embeddings.weight"].shape[0]
    config = DistilBertConfig(
        vocab_size=t.vocab_size,
        max_position_embeddings=positions,
        n_layers=len(layer_map),
        n_heads=t.num_attention_heads,
        dim=t.hidden_size,
        hidden_dim=t.intermediate_size,
        dropout=t.hidden_dropout_prob,
        attention_dropout=t.attention_probs_dropout_prob,
        activation=t.hidden_act,
        initializer_range=t.initializer_range,
        seq_classif_dropout=getattr(t, "classifier_dropout", None) or t.hidden_dropout_prob,
        pad_token_id=t.pad_token_id,
        num_labels=t.num_labels,
        id2label=t.id2label,
        label2id=t.label2id,
    )
    student = DistilBertForSequenceClassification(config)
    load_exactly(student, state)
    return student


def _distilbert_state(teacher, layer_map: tuple[int, ...]) -> dict:
    t = {key: value.detach().clone() for key, value in teacher.state_dict().items()}
    prefix = teacher.base_model_prefix
    emb = f"{prefix}.embeddings"
    positions = t[f"{emb}.position_embeddings.weight"]
    # RoBERTa numbers positions from padding_idx + 1; DistilBERT from 0. With right padding the shifted
    # table gives every real token the same vector it had in the teacher.
    positions = positions[family(teacher).position_offset:]
    # DistilBERT has no token types. Folding segment 0's vector into the position table keeps the
    # embedding sum exact for single-segment input (the original DistilBERT simply dropped it).
    token_types = t.get(f"{emb}.token_type_embeddings.weight")
    if token_types is not None:
        positions = positions + token_types[0]
    state = {
        "distilbert.embeddings.word_embeddings.weight": t[f"{emb}.word_embeddings.weight"],
        "distilbert.embeddings.position_embeddings.weight": positions,
        "distilbert.embeddings.LayerNorm.weight": t[f"{emb}.LayerNorm.weight"],
        "distilbert.embeddings.LayerNorm.bias": t[f"{emb}.LayerNorm.bias"],
    }
    for student_layer, teacher_layer in enumerate(layer_map):
        for source, target in _LAYER_NAMES_TO_DISTILBERT.items():
            for kind in ("weight", "bias"):
                state[f"distilbert.transformer.layer.{student_layer}.{target}.{kind}"] = t[
                    f"{prefix}.encoder.layer.{teacher_layer}.{source}.{kind}"
                ]
    state.update(_distilbert_head(t, prefix))
    return state


def _distilbert_head(t: dict, prefix: str) -> dict:
    """Warm-start DistilBERT's pre_classifier + classifier from the teacher's head.

    BERT's pooler (dense + tanh) and RoBERTa's head dense (tanh) become pre_classifier, which
    DistilBERT follows with ReLU: not an exact copy, a starting point that distillation adjusts.
    """
    if "classifier.out_proj.weight" in t:  # RoBERTa head: dense -> tanh -> out_proj
        pre, out = "classifier.dense", "classifier.out_proj"
    else:
        pre, out = f"{prefix}.pooler.dense", "classifier"
    head = {}
    for kind in ("weight", "bias"):
        if f"{pre}.{kind}" in t:
            head[f"pre_classifier.{kind}"] = t[f"{pre}.{kind}"]
        head[f"classifier.{kind}"] = t[f"{out}.{kind}"]
    return head
