"""The state one diagnosis shares between its checks: both runners, the texts, and the probe batch.

The probe batch is the sample tokenized by the *reference* tokenizer and shaped as the artifact
takes it (its length, padded past the longest text so the mask always hides something). Feeding
it to both sides takes the tokenizer and truncation out of the comparison, so the feed checks
(binding, ids, mask, segment ids) see only what the model file does with the ids.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError
from ..families import family
from ..manifest import Manifest, read_manifest
from ..metrics import agreement, kappa
from ..models import check_model_folder
from ..runners import load_runner
from ..runners.base import Runner
from ..runners.torch import TorchRunner
from ..targets import TARGETS
from .report import MIN_KAPPA

CHECK_TEXTS = 128  # texts a feed check runs: a dozen feeds x 128 texts is seconds on a 3-layer model
EXTRA_PADDING = 8  # pad the probe batch this far past its longest text (dynamic-length artifacts)


# A counterfactual whose logits are within this relative error of the artifact's reproduces it
# numerically, not only in its predicted classes (fp32 artifacts: ~1e-6; int8: 0.02-0.3).
REPRODUCED = 0.01


@dataclass(frozen=True)
class Trial:
    """One counterfactual feed: how well the reference run that way matches the artifact."""

    name: str
    agreement: float
    kappa: float
    logit_error: float  # ||artifact - counterfactual|| / ||counterfactual|| over the texts

    @property
    def reproduces(self) -> bool:
        """The counterfactual gives the artifact's own logits. That explains the artifact even when both
        predict one class everywhere (kappa 0), e.g. an inverted mask that hides every real token."""
        return self.logit_error <= REPRODUCED

    @property
    def informative(self) -> bool:
        return self.kappa >= MIN_KAPPA or self.reproduces


def trial(name: str, artifact: np.ndarray, reference: np.ndarray) -> Trial:
    norm = float(np.linalg.norm(reference))
    error = float(np.linalg.norm(artifact - reference)) / norm if norm > 0 else float("inf")
    return Trial(name, agreement(artifact, reference), kappa(artifact, reference),
                 error if np.isfinite(error) else float("inf"))


def shown(t: Trial, before: float) -> str:
    """A trial's agreement for a summary, flagged when it only agrees by chance (one class everywhere)."""
    return f"{t.agreement:.2f}" + (" (by chance)" if not t.informative and t.agreement > before else "")


def best(trials: list[Trial]) -> Trial | None:
    """The best-agreeing trial among those that match beyond chance or reproduce the artifact (else among all)."""
    informative = [t for t in trials if t.informative] or trials
    return max(informative, key=lambda t: (t.agreement, -t.logit_error), default=None)


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class Probe:
    def __init__(self, artifact_dir: Path, reference_dir: Path, texts: list[str], threads: int | None):
        if not texts:
            raise ConfigError(f"diagnose {artifact_dir}: no texts given; pass the texts the accuracy gate used")
        self.artifact_dir = Path(artifact_dir)
        self.reference_dir = Path(reference_dir)
        self.manifest: Manifest = read_manifest(self.artifact_dir)
        config = check_model_folder(self.reference_dir)
        self.texts = [str(text) for text in texts]
        self.sample = self.texts[:CHECK_TEXTS]
        self.threads = threads
        self.reference = TorchRunner(self.reference_dir, threads, _positions(config))
        self.reference.seq_len = min(self.reference.seq_len, _tokenizer_limit(self.reference.tokenizer))
        self.runner, self.unavailable, self.unloadable = _artifact_runner(self.artifact_dir, threads)

    # --- the artifact -------------------------------------------------------------------------

    def cannot_run(self) -> str | None:
        """Why the artifact's runtime cannot run it here (a check that needs it is skipped), or None."""
        if self.unavailable:
            return f"the artifact cannot be run here ({self.unavailable})"
        if self.probe_logits is None:
            return f"the artifact's runtime refuses the probe batch ({self.run_error})"
        return None

    def run(self, batch: dict[str, np.ndarray], runner: Runner | None = None) -> np.ndarray:
        runner = runner or self.runner
        return runner.predict({name: batch[name] for name in runner.input_names})

    @cached_property
    def run_error(self) -> str | None:
        return self._probe[1]

    @cached_property
    def probe_logits(self) -> np.ndarray | None:
        return self._probe[0]

    @cached_property
    def _probe(self):
        if self.runner is None:
            return None, self.unavailable
        try:
            return self.run(self.batch), None
        except Exception as error:  # a runtime's own error is evidence here, not a crash
            return None, one_line(error)

    @cached_property
    def delivered(self) -> np.ndarray | None:
        """Artifact logits on all texts, tokenized and fed exactly as its runner does."""
        if self.runner is None:
            return None
        try:
            return self.runner.predict(self.texts)
        except Exception:
            return None

    @cached_property
    def declared_inputs(self) -> list | None:
        """`DeclaredInput` (name, dtype, shape) of each input, in order, as the model file itself
        declares them (the target's own reader, the one bench's contract check uses); None when
        the file cannot be read."""
        try:
            return TARGETS[self.manifest.target].read_declared_inputs(self.artifact_dir / self.manifest.model_file)
        except Exception:  # an unreadable model file is for the checks that run it to report
            return None

    @cached_property
    def file_inputs(self) -> dict[str, str] | None:
        """Input name -> dtype name as the model file declares them; formats that store no names
        (ExecuTorch binds by position) get the manifest's names in order. None when unreadable."""
        if self.declared_inputs is None:
            return None
        names = [spec.name for spec in self.manifest.inputs]
        return {item.name or (names[i] if i < len(names) else f"input {i}"): item.dtype
                for i, item in enumerate(self.declared_inputs)}

    @property
    def names_inputs(self) -> bool:
        """Does the model file name its inputs (so inputs can be bound by the wrong name)?"""
        return bool(self.declared_inputs) and all(item.name is not None for item in self.declared_inputs)

    # --- the reference ------------------------------------------------------------------------

    @cached_property
    def full_reference(self) -> np.ndarray:
        """Reference logits on all texts at the reference's own length (what the gate compares with)."""
        return self.reference.predict(self.texts)

    @cached_property
    def probe_reference(self) -> np.ndarray:
        return self.reference_logits(self.batch)

    def reference_logits(self, batch: dict[str, np.ndarray], silence: str | None = None) -> np.ndarray:
        """Reference logits on ``batch``; ``silence``: zero the output of modules named ``*silence``."""
        feed = {name: batch[name] for name in self.reference.input_names}
        with _silenced(self.reference.model, silence):
            return self.reference.predict(feed)

    @property
    def probe_agreement(self) -> float:
        return agreement(self.probe_logits, self.probe_reference)

    # --- the probe batch ----------------------------------------------------------------------

    @cached_property
    def batch(self) -> dict[str, np.ndarray]:
        tokenizer, limit = self.reference.tokenizer, self.manifest.sequence_length
        lengths = [len(ids) for ids in tokenizer(self.sample, truncation=True, max_length=limit)["input_ids"]]
        length = limit if self.manifest.static_shapes else min(limit, max(lengths) + EXTRA_PADDING)
        encoded = tokenizer(self.sample, truncation=True, max_length=length, padding="max_length",
                            return_token_type_ids=True, return_tensors="np")
        return {name: np.asarray(encoded[name], dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids") if name in encoded}


def _positions(config: dict) -> int:
    return family(config).usable_positions(int(config.get("max_position_embeddings", 512)))


def _tokenizer_limit(tokenizer) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 1_000_000 else 1_000_000


def _artifact_runner(folder: Path, threads: int | None):
    """(runner, why it is unavailable, whether the runtime refused the file itself)."""
    try:
        return load_runner(folder, threads), None, False
    except ModelError as error:  # e.g. Core ML off macOS: the checks that need to run it say so
        return None, str(error), False
    except Exception as error:  # a model file its runtime cannot load is what is being diagnosed
        return None, one_line(error), True


@contextlib.contextmanager
def _silenced(model, suffix: str | None):
    """Zero the outputs of the modules whose name ends with ``suffix`` (e.g. token_type_embeddings)."""
    handles = []
    if suffix:
        for name, module in model.named_modules():
            if name.endswith(suffix):
                handles.append(module.register_forward_hook(lambda _m, _i, output: output * 0))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
