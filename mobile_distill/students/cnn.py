"""The ``cnn`` recipe (Kim 2014, as a student in Tang et al. 2019 and Wasserblat et al. 2020): 1D
convolutions of several widths over the teacher's WordPiece embeddings, max-pooled over the real
tokens, through a ReLU layer to the logits, trained on the teacher's logits. The fastest student on a
phone: a few convolutions, no recurrence. The model: `textnets.TextCNNForSequenceClassification`."""

from __future__ import annotations

from .base import Architecture, Student, StudentType

STUDENT_TYPE = StudentType(
    name="cnn",
    summary="1D convolutions (3, 4 and 5 tokens wide) over the teacher's word embeddings (projected, SVD), "
            "max-pooled, trained on the teacher's logits",
    builder="mobile_distill.students.cnn:build",
    presets={
        "cnn-128": {"embedding_size": 128, "filters": 128, "intermediate_size": 128, "kernel_sizes": (3, 4, 5)},
        "cnn-kim": {"embedding_size": 300, "filters": 100, "intermediate_size": 100, "kernel_sizes": (3, 4, 5)},
    },
    default_preset="cnn-128",
    kind="textnet",
    default_weights={"logit_mse": 1.0, "ce": 0.5},
    paper="Kim 2014; Tang et al. 2019",
)


def build(teacher, architecture: Architecture) -> Student:
    from .textnets import (
        TextCNNConfig,
        TextCNNForSequenceClassification,
        textnet_student,
    )

    return textnet_student(TextCNNConfig, TextCNNForSequenceClassification, teacher, architecture, STUDENT_TYPE.name)
