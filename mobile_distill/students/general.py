"""Starting a task student from a general student (``student.init: PATH``): a student of the same recipe
and shape made by general (task-agnostic) distillation on unlabeled text, whose encoder weights the
task distillation then starts from (TinyBERT's second stage; DistilBERT's fine-tuning)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..layout import HF_CONFIG
from .base import Student, WeightOrigins


def load_general_student(student: Student, path: str) -> Student:
    """``student`` with every tensor the general student at ``path`` has under the same name and shape.

    The task head (classifier, and a pooler the general student lacks) keeps its initialisation; a
    general student of another recipe or shape is a one-line error, not a partial load.
    """
    from safetensors.torch import load_file

    folder = Path(path)
    files = sorted(folder.glob("*.safetensors"))
    if not (folder / HF_CONFIG).is_file() or not files:
        raise ConfigError(f"student.init {path}: not a student folder (config.json and .safetensors weights); "
                          "use 'teacher', 'random' or the folder a general distillation wrote", fields=("init",))
    theirs = {}
    for file in files:
        theirs.update(load_file(str(file)))
    own = dict(student.model.named_parameters())
    loaded, mismatched = [], []
    for name, tensor in own.items():
        source = theirs.get(name)
        if source is None:
            continue
        if tuple(source.shape) != tuple(tensor.shape):
            mismatched.append(f"{name} {tuple(source.shape)} vs {tuple(tensor.shape)}")
            continue
        tensor.data.copy_(source)
        loaded.append(name)
    encoder = [name for name in own if ".encoder." in name or ".transformer." in name]
    if mismatched or not set(encoder) <= set(loaded):
        problem = mismatched[0] if mismatched else f"it has no {next(n for n in encoder if n not in loaded)}"
        raise ConfigError(f"student.init {path}: not a general student of this type and shape ({problem}); "
                          "make it with the same student settings", fields=("init",))
    origins = WeightOrigins(loaded=loaded, random=[name for name in own if name not in loaded],
                            notes=[f"started from the general student at {path}"])
    return Student(model=student.model, layer_map=student.layer_map, type=student.type,
                   architecture=student.architecture, origins=origins)
