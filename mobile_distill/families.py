"""The model families the tool handles, one entry per Hugging Face ``model_type``: what differs between
BERT, RoBERTa, DistilBERT, MobileBERT and the text nets, stated once. Stages ask `family(...)` instead
of branching on ``model_type``: where the layers are (attention taps, layer-wise learning rates), what
pruning can remove, how positions are numbered, whether padding changes the output. A new family is one
entry in `FAMILIES` (and, for a new architecture, a student module in `students/`).

Imports neither torch nor transformers: the recipe check and the CLI read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from .errors import ConfigError


@dataclass(frozen=True)
class Family:
    model_type: str
    # where things are, as attribute paths: the layer list under ``model.base_model``, then per layer
    layers: str | None = None  # None: no transformer layers (the text nets)
    self_attention: str = "attention.self"  # the module holding the q/k/v projections and the head count
    projections: tuple[str, str, str] = ("query", "key", "value")
    heads: str = "num_attention_heads"  # the head count's name, on the config and on the self-attention
    # head pruning: (parent, name) of the attention's output projection, whose input is the heads side by side
    attention_output: tuple[str, str] | None = None
    # feed-forward pruning: (parent, name) of the widening and of the narrowing linear
    feed_forward: tuple[tuple[str, str], tuple[str, str]] | None = None
    not_prunable: str = ""  # why pruning does not apply, when the two above are None
    position_offset: int = 0  # positions numbered from here (RoBERTa: padding_idx + 1 = 2)
    padding_sensitive: bool = False  # output changes with the amount of padding (see data/encoding.py)
    token_types: bool = True  # its forward takes token_type_ids (a model may still have one segment only)
    text_net: bool = False  # a student of this tool's own (BiLSTM, CNN), not a transformer
    # the model_type onnxruntime's transformer optimizer fuses this family's layers under (None: it has no
    # patterns for it; MobileBERT's bottlenecks and NoNorm are not among them)
    onnx_optimizer: str | None = None

    @property
    def prunable(self) -> bool:
        return self.attention_output is not None

    def usable_positions(self, max_position_embeddings: int) -> int:
        """How many tokens a model with ``max_position_embeddings`` position vectors can take."""
        return max_position_embeddings - self.position_offset

    def layer_list(self, model) -> list:
        """The model's transformer layers, in order."""
        if self.layers is None:
            raise ConfigError(f"{self.model_type} models have no transformer layers")
        return list(attribute(model.base_model, self.layers))


_BERT = dict(layers="encoder.layer", attention_output=("attention.output", "dense"),
             feed_forward=(("intermediate", "dense"), ("output", "dense")), onnx_optimizer="bert")

FAMILIES: dict[str, Family] = {family.model_type: family for family in (
    Family("bert", **_BERT),
    Family("roberta", **_BERT, position_offset=2),
    Family("distilbert", layers="transformer.layer", self_attention="attention", projections=("q_lin", "k_lin", "v_lin"),
           heads="n_heads", attention_output=("attention", "out_lin"), feed_forward=(("ffn", "lin1"), ("ffn", "lin2")),
           token_types=False, onnx_optimizer="bert"),
    Family("mobilebert", layers="encoder.layer", padding_sensitive=True,
           not_prunable="MobileBERT's bottlenecked attention and stacked narrow feed-forward blocks are not pruned here"),
    Family("mdistill-bilstm", text_net=True, token_types=False, not_prunable="a BiLSTM has no heads or feed-forward blocks"),
    Family("mdistill-cnn", text_net=True, token_types=False, not_prunable="a CNN has no heads or feed-forward blocks"),
)}
MODEL_TYPES: tuple[str, ...] = tuple(FAMILIES)
PADDING_SENSITIVE = frozenset(name for name, entry in FAMILIES.items() if entry.padding_sensitive)


def family(of) -> Family:
    """The family of a model, a config (object or dict) or a ``model_type`` string; an unknown type is a
    one-line error naming the known ones."""
    if isinstance(of, str):
        model_type = of
    elif isinstance(of, dict):
        model_type = of.get("model_type")
    else:
        model_type = getattr(getattr(of, "config", of), "model_type", None)
    if model_type not in FAMILIES:
        raise ConfigError(f"model_type {model_type!r} is not supported; use one of {', '.join(FAMILIES)}")
    return FAMILIES[model_type]


def attribute(root, path: str):
    """``root.a.b.c`` for ``path`` "a.b.c"."""
    return reduce(getattr, path.split("."), root)
