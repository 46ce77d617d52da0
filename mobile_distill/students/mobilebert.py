"""The ``mobilebert`` recipe (Sun et al. 2020, MobileBERT): a real `MobileBertForSequenceClassification`.

Each layer keeps the inter-block width (here the teacher's own width, so its layer outputs compare
with the teacher's feature maps directly) and computes inside a narrow bottleneck (intra-block
size), with narrow word embeddings expanded by the trigram input (each token's embedding
concatenated with its neighbours', then a linear map to the inter-block width), NoNorm (an
elementwise affine map instead of LayerNorm) and several stacked feed-forward networks per layer.
Depth is mapped onto the teacher's layers (uniform by default).

With ``init: teacher`` the word embeddings are the teacher's projected onto their top principal
directions (SVD), the trigram transformation maps a token's own embedding back to the teacher's
space (so the embedding output starts as the teacher's word embedding), and the position and
token-type tables, pooler and classifier are copied where the widths agree; the layers start random
and are trained layer by layer (progressive knowledge transfer, `distill`).
"""

from __future__ import annotations

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
    name="mobilebert",
    summary="MobileBERT: bottlenecks inside each layer, narrow trigram embeddings, NoNorm, stacked FFNs; "
            "trained layer by layer (progressive knowledge transfer)",
    builder="mobile_distill.students.mobilebert:build",
    presets={
        # sized for a teacher of any width: the inter-block width is the teacher's (hidden_size unset)
        "mobilebert-tiny": {"layers": 6, "intra_bottleneck_size": 128, "embedding_size": 128, "num_heads": 4,
                            "intermediate_size": 512, "feedforward_networks": 2},
        "mobilebert": {"layers": 6, "intra_bottleneck_size": 128, "embedding_size": 128, "num_heads": 4,
                       "intermediate_size": 512, "feedforward_networks": 4},
    },
    default_preset="mobilebert-tiny",
    schedule="progressive",
    # feature-map and attention transfer layer by layer, then the task with soft targets and labels
    default_weights={"hidden_mse": 1.0, "attention_kl": 1.0, "kd": 1.0, "ce": 0.5},
    paper="Sun et al. 2020, MobileBERT",
)


def build(teacher, architecture: Architecture) -> Student:
    from transformers import MobileBertConfig, MobileBertForSequenceClassification

    config = MobileBertConfig(
        **narrow_config_fields(teacher, architecture), embedding_size=architecture.embedding_size or 128,
        intra_bottleneck_size=architecture.intra_bottleneck_size or 128,
        num_feedforward_networks=architecture.feedforward_networks or 4, hidden_act="relu",
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.1, trigram_input=True,
        normalization_type="no_norm")
    model = MobileBertForSequenceClassification(config)
    origins = _from_teacher(model, teacher) if architecture.init == "teacher" else WeightOrigins()
    return narrow_student(model, architecture, STUDENT_TYPE.name, origins)


def _from_teacher(model, teacher) -> WeightOrigins:
    import torch

    source, target = teacher.base_model.embeddings, model.mobilebert.embeddings
    size = model.config.embedding_size
    origins = WeightOrigins(notes=[f"word embeddings projected onto the top {size} principal directions of the "
                                   "teacher's table; the trigram transformation maps them back"])
    with torch.no_grad():
        words, basis = principal_projection(source.word_embeddings.weight, size)  # basis: (teacher width, size)
        target.word_embeddings.weight.copy_(words)
        origins.projected.append("mobilebert.embeddings.word_embeddings.weight")
        if basis.shape[0] == model.config.hidden_size:
            transform = target.embedding_transformation
            transform.weight.zero_()
            transform.weight[:, size: 2 * size].copy_(basis)  # [left | own | right] embedding -> teacher space
            transform.bias.zero_()
            origins.projected += ["mobilebert.embeddings.embedding_transformation.weight",
                                  "mobilebert.embeddings.embedding_transformation.bias"]
            origins.copied += _copy_same_width(model, teacher)
        else:
            origins.notes.append(f"the teacher's width {basis.shape[0]} is not the inter-block width "
                                 f"{model.config.hidden_size}: position, token-type and head weights start random")
    return origins


def _copy_same_width(model, teacher) -> list[str]:
    """Position and token-type tables, pooler and classifier: the teacher's, where the widths agree."""
    state, prefix = teacher.state_dict(), teacher.base_model_prefix
    pairs = {"mobilebert.embeddings.position_embeddings.weight": f"{prefix}.embeddings.position_embeddings.weight",
             "mobilebert.embeddings.token_type_embeddings.weight": f"{prefix}.embeddings.token_type_embeddings.weight",
             "mobilebert.pooler.dense.weight": f"{prefix}.pooler.dense.weight",
             "mobilebert.pooler.dense.bias": f"{prefix}.pooler.dense.bias",
             "classifier.weight": "classifier.weight", "classifier.bias": "classifier.bias"}
    own = dict(model.named_parameters())
    copied = []
    for name, theirs in pairs.items():
        if name in own and theirs in state and own[name].shape == state[theirs].shape:
            own[name].data.copy_(state[theirs])
            copied.append(name)
    return copied
