"""Student stage: build a smaller model of a real `transformers` class, initialised from the teacher.

Two recipes:
- ``distilbert`` (Sanh et al. 2019): a `DistilBertForSequenceClassification` with the teacher's
  hidden size and a subset of its layers, no token-type embeddings and no pooler.
- ``bert``: the teacher's own class with fewer layers, which keeps token types (for tasks whose
  inputs are text pairs that need segment ids).

The weight copy is written here by hand because no library maps BERT/RoBERTa parameters onto
DistilBERT's layout (Hugging Face's own `extract_distilbert.py` is a research script, not an API).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import torch
from transformers import (
    AutoModelForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

from .config import StudentConfig
from .errors import ConfigError, ModelError

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
_LAYER_KEY = re.compile(r"^(.*\.layer\.)(\d+)(\..*)$")
_DISTILBERT_LAYER_NORM_EPS = 1e-12  # hard-coded in transformers' DistilBERT


@dataclass(frozen=True)
class Student:
    model: torch.nn.Module
    layer_map: tuple[int, ...]  # student layer i was copied from teacher layer layer_map[i]
    recipe: str


def default_layer_map(teacher_layers: int) -> tuple[int, ...]:
    """Every other layer, ending at the last (6 -> (1, 3, 5), 12 -> (1, 3, ..., 11)).

    Keeping the last layer means the student's top layer starts from the one the task head was
    trained on, and the cosine loss on final hidden states compares like with like.
    """
    return tuple(range(teacher_layers - 1, -1, -2))[::-1]


def build_student(teacher: torch.nn.Module, config: StudentConfig) -> Student:
    teacher_layers = teacher.config.num_hidden_layers
    layer_map = config.layers or default_layer_map(teacher_layers)
    if max(layer_map) >= teacher_layers:
        raise ConfigError(
            f"student.layers: {list(layer_map)} names layer {max(layer_map)} but the teacher has layers 0..{teacher_layers - 1}"
        )
    if config.recipe == "distilbert":
        model = _distilbert_from(teacher, layer_map)
    else:
        model = _fewer_layers_of(teacher, layer_map)
    return Student(model=model, layer_map=tuple(layer_map), recipe=config.recipe)


def _fewer_layers_of(teacher: torch.nn.Module, layer_map: tuple[int, ...]) -> torch.nn.Module:
    """The teacher's own class with ``len(layer_map)`` layers, layer i copied from teacher layer layer_map[i]."""
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.num_hidden_layers = len(layer_map)
    student = AutoModelForSequenceClassification.from_config(config)
    source = {v: k for k, v in enumerate(layer_map)}
    state = {}
    for key, value in teacher.state_dict().items():
        match = _LAYER_KEY.match(key)
        if match is None:
            state[key] = value
        elif int(match.group(2)) in source:
            state[f"{match.group(1)}{source[int(match.group(2))]}{match.group(3)}"] = value
    _load_exactly(student, state)
    return student


def _distilbert_from(teacher: torch.nn.Module, layer_map: tuple[int, ...]) -> DistilBertForSequenceClassification:
    model_type = teacher.config.model_type
    if model_type == "distilbert":
        return _fewer_layers_of(teacher, layer_map)
    if model_type not in ("bert", "roberta"):
        raise ModelError(f"the distilbert recipe takes a bert, roberta or distilbert teacher, not {model_type!r}")
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
    _load_exactly(student, state)
    return student


def _distilbert_state(teacher: torch.nn.Module, layer_map: tuple[int, ...]) -> dict[str, torch.Tensor]:
    t = {key: value.detach().clone() for key, value in teacher.state_dict().items()}
    prefix = teacher.base_model_prefix
    emb = f"{prefix}.embeddings"
    positions = t[f"{emb}.position_embeddings.weight"]
    if teacher.config.model_type == "roberta":
        # RoBERTa numbers positions from padding_idx + 1; DistilBERT from 0. With right padding the
        # shifted table gives every real token the same vector it had in the teacher.
        positions = positions[teacher.config.pad_token_id + 1 :]
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


def _distilbert_head(t: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
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


def _load_exactly(student: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state``; anything unexpected is a bug in the mapping, except an absent pooler/pre_classifier."""
    result = student.load_state_dict(state, strict=False)
    missing = [key for key in result.missing_keys if not key.startswith(("pre_classifier.", "bert.pooler."))]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"student weight copy did not line up: missing {missing[:4]}, unexpected {result.unexpected_keys[:4]}"
        )
