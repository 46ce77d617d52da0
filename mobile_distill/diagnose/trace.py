"""What a target's tracer gives diagnose: the artifact run in its own runtime with its intermediate
tensors exposed, each tied to the PyTorch module it computes (`Tracer`), and the reference's module
outputs on the same feed, recorded by forward hooks. The departure and non-finite checks
(`diagnose.departure`) compare the two; each target's tracer lives in its package
(``targets/<name>/trace.py``, registered as ``Target.tracer``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Step:
    """One operation of the artifact, in execution order."""

    tensor: str  # the output it writes (its name in the file)
    node: str  # the operation's name in the file
    op_type: str
    module: str  # the PyTorch module path it belongs to ("" when the file does not say)
    inputs: tuple[str, ...]  # activations it reads
    weights: tuple[str, ...]  # constants it reads (weights, folded constants)


class Tracer(Protocol):
    """Made as ``Tracer(model_path, input_names, modules, threads)``: ``input_names`` as the manifest
    lists them (feeds are keyed so), ``modules`` the reference's module paths."""

    steps: list[Step]  # every operation whose output can be read, in execution order
    module_outputs: dict[str, list[str]]  # module path -> tensors leaving the module, in execution order

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every step's output (and the graph inputs) on one feed of one text."""

    def non_finite_weights(self, names: tuple[str, ...]) -> dict[str, int]:
        """Of these constants, those holding NaN or inf, with how many such values."""


def module_outputs(steps: list[Step], graph_outputs: set[str], modules: list[str]) -> dict[str, list[str]]:
    """Module path (and each of its ancestors) -> the tensors written inside it that a later module
    reads (or the graph returns), in execution order: what the module hands on. ``modules``: the
    reference's module paths in definition order, which is the order BERT-style models run them;
    a reader tied to an earlier module is a converter's naming slip, not where the tensor goes."""
    rank = {name: i for i, name in enumerate(modules)}
    readers: dict[str, list[str]] = {name: [""] for name in graph_outputs}
    for step in steps:
        for name in step.inputs:
            readers.setdefault(name, []).append(step.module)

    def hands_on(reader: str, scope: str) -> bool:
        if reader == scope or reader.startswith(scope + "."):
            return False
        if scope.startswith(reader + "."):  # the module's parent computes with it
            return True
        return not reader or rank.get(reader, len(rank)) > rank.get(scope, -1)

    outputs: dict[str, list[str]] = {}
    for step in steps:
        parts = step.module.split(".") if step.module else []
        for scope in (".".join(parts[: i + 1]) for i in range(len(parts))):
            if any(hands_on(reader, scope) for reader in readers.get(step.tensor, [])):
                outputs.setdefault(scope, []).append(step.tensor)
    return outputs


def bind_inputs(manifest_names: list[str], file_names: list[str]) -> dict[str, str]:
    """Manifest input name -> the file's. Feeds come named as the manifest lists the inputs; a file that
    names them otherwise (input-binding's concern, not this one's) is fed in the manifest's order."""
    if set(file_names) == set(manifest_names):
        return {name: name for name in file_names}
    return dict(zip(manifest_names, file_names))


def non_finite_count(value: np.ndarray) -> int:
    """How many NaN or inf values a float array holds (0 for other dtypes)."""
    return int(np.size(value) - np.isfinite(value).sum()) if np.issubdtype(value.dtype, np.floating) else 0


def text_feeds(tokenizer, texts: list[str], seq_len: int, static: bool, input_names: list[str]) -> list[dict]:
    """One text per feed, tokenized by the reference's tokenizer: unpadded, or padded to ``seq_len``
    where the file takes exactly that length. One text at a time keeps memory at one text's activations."""
    feeds = []
    for text in texts:
        encoded = tokenizer([text], truncation=True, max_length=seq_len, padding="max_length" if static else False,
                            return_token_type_ids=True, return_tensors="np")
        feeds.append({name: np.asarray(encoded[name], dtype=np.int64) for name in input_names if name in encoded})
    return feeds


@contextlib.contextmanager
def recorded_module_outputs(model):
    """Record every module's output (its first tensor, for modules that return tuples) while the
    block runs, in the order the modules finish: children before their parents."""
    import torch

    outputs: dict[str, np.ndarray] = {}

    def hook(name):
        def record(_module, _inputs, output):
            tensor = output[0] if isinstance(output, (tuple, list)) and output else output
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                outputs.setdefault(name, tensor.detach().float().numpy().copy())
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in model.named_modules() if name]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
