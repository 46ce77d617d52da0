"""The ``bert`` recipe: the teacher's own class with fewer layers, each copied from the teacher layer it
maps to. It keeps token types, for tasks whose inputs are text pairs that need segment ids."""

from __future__ import annotations

import re

from ..errors import ModelError
from .base import Architecture, Student, StudentType, WeightOrigins

_LAYER_KEY = re.compile(r"^(.*\.layer\.)(\d+)(\..*)$")

STUDENT_TYPE = StudentType(
    name="bert",
    summary="the teacher's own class with fewer layers, copied from it; keeps token types",
    builder="mobile_distill.students.bert:build",
    keeps_teacher_width=True,
)


def build(teacher, architecture: Architecture) -> Student:
    model, origins = fewer_layers_of(teacher, architecture.layer_map)
    return Student(model=model, layer_map=architecture.layer_map, type=STUDENT_TYPE.name, architecture=architecture,
                   origins=origins)


def fewer_layers_of(teacher, layer_map: tuple[int, ...]):
    """The teacher's own class with ``len(layer_map)`` layers, layer i copied from teacher layer layer_map[i]."""
    from transformers import AutoModelForSequenceClassification

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
    load_exactly(student, state)
    return student, WeightOrigins(copied=[name for name, _ in student.named_parameters()])


def load_exactly(student, state: dict) -> None:
    """Load ``state``; anything unexpected is a bug in the mapping, except an absent pooler/pre_classifier."""
    result = student.load_state_dict(state, strict=False)
    missing = [key for key in result.missing_keys if not key.startswith(("pre_classifier.", "bert.pooler."))]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"student weight copy did not line up: missing {missing[:4]}, unexpected {result.unexpected_keys[:4]}"
        )
