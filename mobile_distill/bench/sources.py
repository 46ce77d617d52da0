"""What an artifact is judged against when the user names only the artifact: the model it was exported
from (its manifest records the path), the teacher beside that model in its run folder, the length the
PyTorch models are run at (the longest artifact's), and the data's labels in the model's logit order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..layout import HF_CONFIG
from ..manifest import read_manifest


def find_reference(artifact: Path, given: str | Path | None = None) -> Path:
    """The model ``artifact`` was exported from: as given, else the path its manifest records."""
    if given:
        return Path(given)
    source = Path(read_manifest(artifact).source.get("path", ""))
    if not (source / HF_CONFIG).is_file():
        raise ConfigError(f"{artifact}: the model it was exported from ({source}) is not there; pass --reference")
    return source


def find_teacher(reference: Path, given: str | None = None) -> Path | None:
    """The teacher: as given ("none" for no teacher), else RUN/teacher beside the reference if it is there."""
    if given == "none":
        return None
    if given:
        return Path(given)
    folder = Path(reference).parent / "teacher"
    return folder if (folder / HF_CONFIG).is_file() else None


def longest_sequence(artifacts: list[Path]) -> int:
    return max(read_manifest(folder).sequence_length for folder in artifacts)


def labels_as_model_indices(data_labels: list[str], model_labels: list[str],
                            ids: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """The data's label ids as the model's logit indices, and the mapping used when there was one.

    Names must match the model's in logit order. Integer labels (``0..N-1``) are taken as logit
    indices, the Hugging Face convention, when the model names its classes: ``{"0": "negative",
    "1": "positive"}`` is returned so the report can state it. Anything else is a one-line error.
    """
    if data_labels == model_labels:
        return ids, {}
    indices = [int(label) if label.lstrip("-").isdigit() else None for label in data_labels]
    if all(index is not None and 0 <= index < len(model_labels) for index in indices):
        return np.asarray(indices)[ids], {label: model_labels[int(label)] for label in data_labels}
    raise ConfigError(f"the data's labels {data_labels} are not the reference model's {model_labels} (in logit "
                      f"order), nor logit indices 0..{len(model_labels) - 1}; bench needs the data the model was "
                      "trained for", fields=("data",))
