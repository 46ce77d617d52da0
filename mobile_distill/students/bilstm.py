"""The ``bilstm`` recipe (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple
Neural Networks"): one bidirectional LSTM over the teacher's WordPiece embeddings, its two final states
through a ReLU layer to the logits, trained on the teacher's logits (MSE) over the labelled texts and
an augmented transfer set. The model: `textnets.BiLSTMForSequenceClassification`."""

from __future__ import annotations

from .base import Architecture, Student, StudentType

STUDENT_TYPE = StudentType(
    name="bilstm",
    summary="a one-layer BiLSTM over the teacher's word embeddings (projected, SVD), trained on the teacher's "
            "logits; no attention, no position table",
    builder="mobile_distill.students.bilstm:build",
    presets={
        "bilstm-128": {"embedding_size": 128, "lstm_size": 128, "intermediate_size": 128},
        "bilstm-tang": {"embedding_size": 300, "lstm_size": 150, "intermediate_size": 200},
    },
    default_preset="bilstm-128",
    kind="textnet",
    # Tang et al.: the MSE between the logits, which they found better than soft-target cross-entropy
    default_weights={"logit_mse": 1.0, "ce": 0.5},
    paper="Tang et al. 2019, Distilling Task-Specific Knowledge from BERT into Simple Neural Networks",
)


def build(teacher, architecture: Architecture) -> Student:
    from .textnets import BiLSTMConfig, BiLSTMForSequenceClassification, textnet_student

    return textnet_student(BiLSTMConfig, BiLSTMForSequenceClassification, teacher, architecture, STUDENT_TYPE.name)
