"""The schedule of a distillation: which losses count, which parameters train, for how long, in what order.

    joint        every loss at once (DistilBERT)
    two-stage    the intermediate-layer losses (embedding, hidden-state, attention) on every mapped
                 layer, then prediction-layer distillation (TinyBERT)
    progressive  one stage per student layer, lower layers first: layer l learns the teacher's feature
                 map and attention at its mapped layer while every layer below it is frozen (the
                 embeddings train with layer 0); then all layers together on the task (MobileBERT)

Each stage is a Trainer run of its own with its own checkpoints (RUN/checkpoints/student-HASH/STAGE);
a finished stage leaves its module state in STAGE/done, so a rerun skips finished stages and resumes
the unfinished one from its last checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..families import family
from .losses import INTERMEDIATE, PREDICTION

DONE = "done"
MODULE_STATE = "module.safetensors"


@dataclass(frozen=True)
class Stage:
    name: str
    weights: dict[str, float]  # the loss terms that count (0 elsewhere)
    train: object  # TrainConfig
    pairs: tuple[tuple[int, int], ...]  # (student layer, teacher layer) whose intermediate losses count
    trainable: tuple[str, ...] | None = None  # parameter-name prefixes that train; None: all
    evaluate: bool = True  # validation accuracy is meaningful (the classifier is being trained)

    def describe(self) -> dict:
        return {"name": self.name, "weights": self.weights, "pairs": [list(pair) for pair in self.pairs],
                "trainable": list(self.trainable) if self.trainable else "all",
                "epochs": self.train.epochs, "learning_rate": self.train.learning_rate}


def plan_stages(schedule: str, weights: dict[str, float], config, layer_map: tuple[int, ...],
                layer_prefix: str, embedding_prefix: str) -> list[Stage]:
    """The stages of ``schedule``. ``layer_prefix``: the student's layer parameter prefix ending in "layer.",
    ``embedding_prefix``: its embeddings' (for the frozen-below rule of the progressive schedule)."""
    pairs = tuple(enumerate(layer_map))
    intermediate = {name: value for name, value in weights.items() if name in INTERMEDIATE and value > 0}
    prediction = {name: value for name, value in weights.items() if name in PREDICTION and value > 0}
    if schedule == "joint" or not intermediate or not prediction:
        return [Stage("joint", {k: v for k, v in weights.items() if v > 0}, config.train, pairs)]
    if schedule == "two-stage":
        return [Stage("intermediate", intermediate, config.intermediate, pairs, evaluate=False),
                Stage("prediction", prediction, config.train, pairs)]
    stages = []
    for layer, teacher_layer in pairs:
        trainable = (f"{layer_prefix}{layer}.", "projections.") + ((embedding_prefix,) if layer == 0 else ())
        layer_weights = {k: v for k, v in intermediate.items() if k != "embedding_mse" or layer == 0}
        stages.append(Stage(f"layer-{layer}", layer_weights, config.intermediate, ((layer, teacher_layer),),
                            trainable, evaluate=False))
    return stages + [Stage("task", prediction, config.train, pairs)]


def freeze_all_but(module, prefixes: tuple[str, ...] | None) -> list[str]:
    """Let only the parameters under ``prefixes`` train (all when None); returns the names that train."""
    names = []
    for name, parameter in module.named_parameters():
        trains = prefixes is None or name.startswith(prefixes)
        parameter.requires_grad_(trains)
        if trains:
            names.append(name)
    return names


def layer_prefix(student) -> tuple[str, str]:
    """("student.<base>.<encoder>.layer.", "student.<base>.embeddings.") for a BERT-family student."""
    base = student.base_model_prefix
    return f"student.{base}.{family(student).layers}.", f"student.{base}.embeddings."
