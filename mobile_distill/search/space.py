"""The students a budget search considers, made from the teacher's shape, and their names.

From largest to smallest: DistilBERT at half and a third of the teacher's depth, the half-depth one
with half its heads and feed-forward neurons pruned, TinyBERTs at two thirds and a third of the
width, and the BiLSTM and CNN students. Every one keeps only the task's wordpieces (a trimmed
vocabulary is most of the size saving of a narrow student). MobileBERT is left out: its layer-by-
layer schedule is the slowest to train, and the search has a time limit.
"""

from __future__ import annotations

from ..config import StudentConfig
from ..students import STUDENT_TYPES, teacher_shape


def default_space(teacher_config) -> list[StudentConfig]:
    shape = teacher_shape(teacher_config)
    layers, width = shape["layers"], shape["hidden_size"]
    half, third = (layers + 1) // 2, max(1, layers // 3)
    wide, narrow = _tinybert_width(width * 2 // 3, 4), _tinybert_width(width // 3, 2)
    embedding = min(128, width)
    space = [StudentConfig(type="distilbert", num_layers=half),
             StudentConfig(type="distilbert", num_layers=half, prune_heads=0.5, prune_ffn=0.5)]
    if third < half:
        space.append(StudentConfig(type="distilbert", num_layers=third))
    space += [StudentConfig(type="tinybert", num_layers=min(4, layers), hidden_size=wide, num_heads=4,
                            intermediate_size=4 * wide),
              StudentConfig(type="tinybert", num_layers=min(2, layers), hidden_size=narrow, num_heads=2,
                            intermediate_size=4 * narrow),
              StudentConfig(type="bilstm", embedding_size=embedding, lstm_size=embedding, intermediate_size=embedding),
              StudentConfig(type="cnn", embedding_size=embedding, filters=embedding, intermediate_size=embedding)]
    return [candidate.model_copy(update={"trim_vocabulary": True}) for candidate in space]


def _tinybert_width(width: int, heads: int) -> int:
    return max(8, width // heads * heads)


def candidate_name(candidate: StudentConfig) -> str:
    """A short, readable name: ``distilbert-3l``, ``distilbert-3l-p50``, ``tinybert-4l-256``, ``cnn-128``."""
    recipe = STUDENT_TYPES[candidate.type]
    parts = [candidate.type]
    if candidate.preset:
        parts = [candidate.preset]
    elif recipe.kind == "textnet":
        parts.append(str(candidate.embedding_size or "preset"))
    else:
        depth = candidate.num_layers or (len(candidate.layers) if candidate.layers else None)
        parts.append(f"{depth}l" if depth else "preset")
        if candidate.hidden_size:
            parts.append(str(candidate.hidden_size))
    if candidate.prune_heads or candidate.prune_ffn:
        parts.append(f"p{round(100 * max(candidate.prune_heads, candidate.prune_ffn))}")
    if not candidate.trim_vocabulary:
        parts.append("fullvocab")
    return "-".join(parts)
