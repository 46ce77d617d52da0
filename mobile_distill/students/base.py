"""What a student type declares and what it builds, and the pieces student types share: the layer map,
the architecture resolved against the teacher, the record of where each weight came from, and the
projection of a teacher's embedding table onto a narrower width."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Literal

Schedule = Literal["joint", "two-stage", "progressive"]
Kind = Literal["transformer", "textnet"]  # textnet: no attention and no layers to map (BiLSTM, CNN)


@dataclass(frozen=True)
class StudentType:
    """A kind of student. ``builder`` is "module:function(teacher, Architecture) -> Student", imported
    on first use so that the registry (read by the config and the CLI's --help) imports no torch."""

    name: str
    summary: str  # one line for the docs table
    builder: str
    presets: dict[str, dict] = field(default_factory=dict)  # name -> architecture fields
    default_preset: str | None = None
    keeps_teacher_width: bool = False  # distilbert, bert: layers are copied, so the width is the teacher's
    kind: Kind = "transformer"
    schedule: Schedule = "joint"  # how `distill` trains it by default (DistillConfig.schedule overrides)
    # the loss weights `distill` uses where the recipe's config sets none (DistillConfig.weights): by default
    # DistilBERT's triple loss without the MLM term (soft targets, hard labels, hidden-state cosine)
    default_weights: dict = field(default_factory=lambda: {"kd": 1.0, "ce": 0.5, "cos": 1.0})
    paper: str = ""

    def load_builder(self):
        module, _, attribute = self.builder.partition(":")
        return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Architecture:
    """A student's shape, every field resolved (from the preset, the options, the teacher)."""

    layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int  # the feed-forward width (textnets: the ReLU layer before the logits)
    layer_map: tuple[int, ...]  # student layer i learns from (or is copied from) teacher layer layer_map[i]
    embedding_size: int | None = None  # MobileBERT's narrow word embeddings
    intra_bottleneck_size: int | None = None  # MobileBERT
    feedforward_networks: int | None = None  # MobileBERT's stacked FFNs per layer
    kernel_sizes: tuple[int, ...] | None = None  # the CNN student's window widths
    init: str = "teacher"  # "teacher": copy or project what the shapes allow; "random"; or a student folder

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class WeightOrigins:
    """Where each student parameter came from, for the student report."""

    copied: list[str] = field(default_factory=list)  # taken from the teacher as they are
    projected: list[str] = field(default_factory=list)  # from the teacher through a projection (e.g. SVD)
    random: list[str] = field(default_factory=list)  # freshly initialised
    loaded: list[str] = field(default_factory=list)  # from a general student (init: PATH)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        groups = {"copied": self.copied, "projected": self.projected, "random": self.random, "loaded": self.loaded}
        return {**{name: {"tensors": len(names), "names": names} for name, names in groups.items() if names},
                "notes": self.notes}


@dataclass(frozen=True)
class Student:
    model: object  # a transformers PreTrainedModel for sequence classification
    layer_map: tuple[int, ...]  # student layer i learns from teacher layer layer_map[i]
    type: str  # the student type that built it (`StudentType.name`)
    architecture: Architecture | None = None
    origins: WeightOrigins = field(default_factory=WeightOrigins)


def narrow_config_fields(teacher, architecture: Architecture) -> dict:
    """The config fields a narrow student (one that cannot copy the teacher's layers) takes from its
    architecture and from the teacher: the shape, the tables' sizes, the pad id and the labels."""
    t = teacher.config
    embeddings = teacher.base_model.embeddings
    token_types = getattr(embeddings, "token_type_embeddings", None)
    return dict(vocab_size=embeddings.word_embeddings.weight.shape[0], hidden_size=architecture.hidden_size,
                num_hidden_layers=architecture.layers, num_attention_heads=architecture.num_heads,
                intermediate_size=architecture.intermediate_size,
                max_position_embeddings=embeddings.position_embeddings.weight.shape[0],
                type_vocab_size=token_types.weight.shape[0] if token_types is not None else 2,
                pad_token_id=t.pad_token_id, num_labels=t.num_labels, id2label=t.id2label, label2id=t.label2id)


def narrow_student(model, architecture: Architecture, student_type: str, origins: WeightOrigins) -> Student:
    """The student, with every parameter ``origins`` does not list as projected or copied recorded as random."""
    kept = set(origins.projected) | set(origins.copied)
    origins.random = [name for name, _ in model.named_parameters() if name not in kept]
    return Student(model=model, layer_map=architecture.layer_map, type=student_type, architecture=architecture,
                   origins=origins)


def uniform_layer_map(student_layers: int, teacher_layers: int) -> tuple[int, ...]:
    """TinyBERT's uniform g(m) = m * N / M, 0-based: student layer m learns from teacher layer
    (m + 1) * N // M - 1, so the last student layer learns from the last teacher layer (6 teacher
    layers: 3 students -> (1, 3, 5), 4 -> (0, 2, 3, 5), 6 -> (0, ..., 5))."""
    return tuple((m + 1) * teacher_layers // student_layers - 1 for m in range(student_layers))


def principal_projection(table, width: int):
    """(projected table, basis) for an embedding table (rows x d) onto its top ``width`` principal
    directions (SVD of the centred table); basis is (d x width) with orthonormal columns, so
    ``table @ basis`` is the best rank-``width`` view and ``x @ basis`` projects other vectors of the
    same space (position and token-type rows, hidden states) the same way."""
    import torch

    centred = table.float() - table.float().mean(0, keepdim=True)
    _, _, right = torch.linalg.svd(centred, full_matrices=False)
    basis = right[:width].T.contiguous()  # (d, width)
    return table.float() @ basis, basis
