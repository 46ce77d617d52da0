"""The student types and how an architecture is resolved from a type and the teacher (see the package docstring)."""

from __future__ import annotations

from ..errors import ConfigError
from . import bert, bilstm, cnn, distilbert, mobilebert, tinybert
from .base import Architecture, Student, StudentType, WeightOrigins, uniform_layer_map

_REGISTERED = (distilbert.STUDENT_TYPE, bert.STUDENT_TYPE, tinybert.STUDENT_TYPE, mobilebert.STUDENT_TYPE, bilstm.STUDENT_TYPE, cnn.STUDENT_TYPE)

STUDENT_TYPES: dict[str, StudentType] = {recipe.name: recipe for recipe in _REGISTERED}
STUDENT_TYPE_NAMES: tuple[str, ...] = tuple(STUDENT_TYPES)
PRESETS: dict[str, str] = {preset: recipe.name for recipe in _REGISTERED for preset in recipe.presets}

_SHAPE_FIELDS = ("hidden_size", "lstm_size", "filters", "num_heads", "intermediate_size", "embedding_size", "intra_bottleneck_size",
                 "feedforward_networks", "kernel_sizes")


def teacher_shape(teacher_config) -> dict:
    """Layers, width, heads and FFN size of a BERT, RoBERTa or DistilBERT config."""
    get = lambda *names: next(getattr(teacher_config, n) for n in names if hasattr(teacher_config, n))  # noqa: E731
    return {"layers": get("num_hidden_layers", "n_layers"), "hidden_size": get("hidden_size", "dim"),
            "num_heads": get("num_attention_heads", "n_heads"), "intermediate_size": get("intermediate_size", "hidden_dim")}


def resolve(config, teacher_config) -> Architecture:
    """The student's full shape: the recipe's preset, overridden by what the config sets, checked against
    the teacher. A shape the recipe cannot build is a one-line ConfigError naming the field."""
    recipe = STUDENT_TYPES[config.type]
    teacher = teacher_shape(teacher_config)
    preset = dict(recipe.presets.get(config.preset or recipe.default_preset or "", {}))
    given = {name: getattr(config, name) for name in _SHAPE_FIELDS if getattr(config, name) is not None}
    if recipe.kind == "textnet":
        return _resolve_textnet(recipe, config, {**preset, **given})
    if recipe.keeps_teacher_width:
        _check_teacher_width(recipe, given, teacher)
        shape = {name: teacher[name] for name in ("hidden_size", "num_heads", "intermediate_size")}
    else:
        shape = {"hidden_size": teacher["hidden_size"], **preset, **given}
        shape = {key: value for key, value in shape.items() if key in _SHAPE_FIELDS and value is not None}
    layer_map = _layer_map(config, preset.get("layers"), teacher["layers"], recipe)
    hidden, heads = shape["hidden_size"], shape.get("num_heads", teacher["num_heads"])
    if hidden % heads:
        raise ConfigError(f"student.num_heads: {heads} heads do not divide the hidden size {hidden}",
                          fields=("num_heads",))
    return Architecture(layers=len(layer_map), layer_map=layer_map, num_heads=heads,
                        intermediate_size=shape.get("intermediate_size", teacher["intermediate_size"]),
                        hidden_size=hidden, embedding_size=shape.get("embedding_size"),
                        intra_bottleneck_size=shape.get("intra_bottleneck_size"),
                        feedforward_networks=shape.get("feedforward_networks"), init=config.init)


def _resolve_textnet(recipe: StudentType, config, shape: dict) -> Architecture:
    """A BiLSTM or CNN: widths only; it has no layers to map onto the teacher's and no attention."""
    for name in ("layers", "num_layers", "num_heads", "intra_bottleneck_size", "feedforward_networks"):
        if getattr(config, name) is not None:
            raise ConfigError(f"student.{name}: the {recipe.name} student has no transformer layers; set its widths "
                              f"(embedding_size, {_textnet_width(recipe)}, intermediate_size) instead", fields=(name,))
    if recipe.name != "cnn" and config.kernel_sizes is not None:
        raise ConfigError(f"student.kernel_sizes: only the cnn student has convolutions, not {recipe.name}",
                          fields=("kernel_sizes",))
    # the models' own configs keep transformers' name for the width: hidden_size
    return Architecture(layers=1, layer_map=(), num_heads=0, hidden_size=shape[_textnet_width(recipe)],
                        intermediate_size=shape["intermediate_size"], embedding_size=shape["embedding_size"],
                        kernel_sizes=tuple(shape["kernel_sizes"]) if shape.get("kernel_sizes") else None,
                        init=config.init)


def _textnet_width(student_type: StudentType) -> str:
    return "filters" if student_type.name == "cnn" else "lstm_size"


def _check_teacher_width(recipe: StudentType, given: dict, teacher: dict) -> None:
    for name, value in given.items():
        if teacher.get(name) != value:
            raise ConfigError(
                f"student.{name}: the {recipe.name} student copies the teacher's layers, so it keeps the teacher's "
                f"{name} ({teacher.get(name)}); use the tinybert or mobilebert student for a narrower one",
                fields=(name,))


def _layer_map(config, preset_layers: int | None, teacher_layers: int, recipe: StudentType) -> tuple[int, ...]:
    if config.layers is not None:
        layer_map = tuple(config.layers)
        if config.num_layers is not None and config.num_layers != len(layer_map):
            raise ConfigError(f"student.layers: {list(layer_map)} maps {len(layer_map)} layers, but student.num_layers "
                              f"is {config.num_layers}", fields=("layers",))
    else:
        count = config.num_layers or preset_layers or (teacher_layers + 1) // 2
        layer_map = uniform_layer_map(count, teacher_layers)
    if max(layer_map) >= teacher_layers:
        raise ConfigError(f"student.layers: {list(layer_map)} names layer {max(layer_map)} but the teacher has layers "
                          f"0..{teacher_layers - 1}", fields=("layers",))
    if recipe.keeps_teacher_width is False and len(layer_map) > teacher_layers:
        raise ConfigError(f"student.num_layers: {len(layer_map)} is more than the teacher's {teacher_layers} layers",
                          fields=("num_layers",))
    return layer_map


def build_student(teacher, config) -> Student:
    """Build the student ``config`` describes from ``teacher`` (a loaded classifier)."""
    architecture = resolve(config, teacher.config)
    student = STUDENT_TYPES[config.type].load_builder()(teacher, architecture)
    if config.init not in ("teacher", "random"):
        from .general import load_general_student

        student = load_general_student(student, config.init)
    return student


def docs_table() -> str:
    rows = ["| student type | what it builds | presets | trained by default |", "| --- | --- | --- | --- |"]
    for recipe in STUDENT_TYPES.values():
        presets = ", ".join(f"`{name}`" + (" (default)" if name == recipe.default_preset else "")
                            for name in recipe.presets) or "the teacher's width"
        rows.append(f"| `{recipe.name}` | {recipe.summary} | {presets} | {recipe.schedule} |")
    return "\n".join(rows)


def default_layer_map(teacher_layers: int) -> tuple[int, ...]:
    """Half the teacher's layers (rounded up), uniformly mapped, ending at the last: every other layer
    (6 -> (1, 3, 5), 5 -> (0, 2, 4)). Keeping the last layer means the student's top layer starts from
    the one the task head was trained on."""
    return uniform_layer_map((teacher_layers + 1) // 2, teacher_layers)


__all__ = ["Architecture", "PRESETS", "STUDENT_TYPES", "STUDENT_TYPE_NAMES", "Student", "StudentType", "WeightOrigins",
           "build_student", "default_layer_map", "docs_table", "resolve", "teacher_shape", "uniform_layer_map"]
