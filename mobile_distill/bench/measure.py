"""Speed and memory of each model, measured in fresh processes of its own, in rounds.

Why a process per model and round: peak resident memory is a per-process figure, and runtimes keep arenas,
thread pools and caches alive after their sessions are gone, so models measured one after the other in one
process would mix. Each process holds what an app would (bench/timing_process.py): an artifact's runtime and
numpy alone, never torch and transformers, whose ~600 MB were the figure bench used to report as the model's.

Why rounds, interleaved (A, B, C, A, B, C, ...): a machine's speed drifts (other work, clocks, caches); timed
once each, one after the other, a noisy spell lands on one model and reads as that model being slow. Each
model's figures are medians over its rounds (bench/rounds.py), and rounds that disagree are reported.

Latency is batch 1, one real text padded to the model's full sequence length (so dynamic-shape formats are
timed at the same length as static ones), tokenized here by the artifact's own tokenizer: the timing process
gets token ids, as a phone app's model code gets them from the app's tokenizer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..layout import MANIFEST
from .rounds import merge_rounds
from .schema import Performance

TIMING_PROCESS = Path(__file__).with_name("timing_process.py")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding mobile_distill, for the timing process


@dataclass(frozen=True)
class TimingPlan:
    """How long each model is timed: per round (a fresh process) and thread count, ``warmup`` untimed runs,
    then at least ``runs`` runs and ``min_duration_s`` seconds; ``rounds`` rounds per model."""

    threads: tuple[int, ...]
    runs: int
    warmup: int
    rounds: int = 1
    min_duration_s: float = 0.0
    max_round_spread: float = 0.10  # warn when the rounds' p50s differ by more (max / min - 1)

    @classmethod
    def of(cls, settings) -> TimingPlan:
        """The plan a `BenchConfig` asks for; ``release_timing`` raises each minimum to the release one."""
        from ..config import RELEASE_TIMING

        release = RELEASE_TIMING if settings.release_timing else {}
        return cls(threads=tuple(settings.threads), warmup=settings.warmup, max_round_spread=settings.max_round_spread,
                   **{field: max(getattr(settings, field), release.get(field, 0))
                      for field in ("runs", "rounds", "min_duration_s")})


def measure_performance(folder: Path, text: str, threads: tuple[int, ...], runs: int, warmup: int,
                        seq_len: int, timeout: float = 1800, *, rounds: int = 1, min_duration_s: float = 0.0,
                        max_round_spread: float = 0.10) -> Performance:
    """Time ``folder`` (an artifact or a HF model folder) in ``rounds`` fresh processes of its own."""
    plan = TimingPlan(tuple(threads), runs, warmup, rounds, min_duration_s, max_round_spread)
    return measure_models([(Path(folder), seq_len)], text, plan, timeout)[0]


def measure_models(models: list[tuple[Path, int]], text: str, plan: TimingPlan, timeout: float = 1800,
                   progress=None) -> list[Performance]:
    """Each (folder, sequence length) of ``models`` timed in ``plan.rounds`` rounds, interleaved across models.
    ``progress(index, round)`` is called before each process starts."""
    with tempfile.TemporaryDirectory(prefix="mobile-distill-measure-") as scratch:
        specs = [_spec(Path(folder), seq_len, text, plan, Path(scratch) / str(index))
                 for index, (folder, seq_len) in enumerate(models)]
        results: list[list[dict]] = [[] for _ in models]
        for round_ in range(plan.rounds):
            for index, spec in enumerate(specs):  # A, B, C, A, B, C: a noisy spell hits every model alike
                if progress is not None:
                    progress(index, round_)
                results[index].append(_one_round(spec, timeout))
    return [merge_rounds(rounds, plan) for rounds in results]


def _spec(folder: Path, seq_len: int, text: str, plan: TimingPlan, scratch: Path) -> dict:
    scratch.mkdir(parents=True)
    spec = {"folder": str(folder), "text": text, "seq_len": seq_len, "threads": list(plan.threads),
            "runs": plan.runs, "warmup": plan.warmup, "min_duration_s": plan.min_duration_s}
    if (folder / MANIFEST).is_file():
        spec.update(_app_spec(folder, text, scratch))
    return spec


def _app_spec(folder: Path, text: str, scratch: Path) -> dict:
    """What the timing process needs to open an artifact the way an app does: the target's app-like loader,
    the model file, its inputs and output, and the timing text's token ids. Empty where the target has no
    loader (or its runtime does not run here): the process then opens the folder through its runner."""
    from ..manifest import read_manifest
    from ..runners.base import ArtifactRunner
    from ..targets import TARGETS

    manifest = read_manifest(folder)
    target = TARGETS.get(manifest.target)
    if target is None or target.timing is None or not target.runs_here():
        return {}
    batch = ArtifactRunner(folder, manifest).encode([text], pad_to_length=True)  # its own tokenizer; no runtime
    ids = scratch / "ids.npz"
    np.savez(ids, **{spec.name: batch[spec.name].astype(np.dtype(spec.dtype)) for spec in manifest.inputs})
    return {"app": target.reference("timing"), "model": str(folder / manifest.model_file), "ids": str(ids),
            "inputs": [spec.name for spec in manifest.inputs], "output": manifest.output.name}


def _one_round(spec: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="mobile-distill-round-") as scratch:
        spec_path, out_path = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec_path.write_text(json.dumps(spec))
        # the timing process imports mobile_distill from where this one did (a worktree, an editable install)
        path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
        completed = subprocess.run([sys.executable, str(TIMING_PROCESS), str(spec_path), str(out_path)],
                                   capture_output=True, text=True, timeout=timeout,
                                   env={**os.environ, "PYTHONPATH": path})
        if completed.returncode != 0 or not out_path.is_file():
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(f"{spec['folder']}: timing process failed: {last}")
        return json.loads(out_path.read_text())
