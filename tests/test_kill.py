"""Kill, not interrupt: a process killed with SIGKILL runs no handler, no `finally`, no atexit. What it
left on disk must still be safe: distillation resumes from its last complete checkpoint and ends with
the weights an uninterrupted run gets; an export killed mid-write leaves the previous artifact in
place and nothing that bench's artifact discovery would take for an artifact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mobile_distill.atomic import atomic_folder
from mobile_distill.bench import expand_artifacts
from mobile_distill.config import DataConfig
from mobile_distill.data import load_data
from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest
from mobile_distill.runners import load_runner

from .conftest import make_texts, save_tiny_model

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "mobile_distill.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _kill_when(command: list[str], ready, timeout: float = 300) -> subprocess.Popen:
    """Start ``command`` and SIGKILL it the moment ``ready()`` is true (polled every 10 ms)."""
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"finished before it could be killed: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the moment to kill")
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return process


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_kill_9_mid_distillation_then_rerun_resumes_and_ends_with_the_same_weights(tmp_path, tiny_csv):
    teacher = save_tiny_model(tmp_path / "teacher", layers=4, dropout=0.1)
    data = tmp_path / "data"
    load_data(DataConfig(source=str(tiny_csv), text_column="review", label_column="sentiment")).save(data)
    options = ["--data", str(data), "--epochs", "8", "--batch-size", "8", "--save-steps", "10", "--learning-rate",
               "3e-3", "--seed", "0", "--max-length", "32", "--threads", "1", "--no-gate", "-q"]

    _run([*CLI, "distill", str(teacher), "-o", str(tmp_path / "whole"), *options])  # 320 rows / 8 * 8 = 320 steps

    killed = tmp_path / "killed"

    def has_a_checkpoint() -> bool:
        return any((folder / "trainer_state.json").is_file()
                   for folder in (killed / "checkpoints").glob("student-*/*/checkpoint-*"))
    _kill_when([*CLI, "distill", str(teacher), "-o", str(killed), *options], has_a_checkpoint)
    assert not (killed / "student").exists()  # the student is written whole at the end, or not at all

    _run([*CLI, "distill", str(teacher), "-o", str(killed), *options])
    (checkpoints,) = (killed / "checkpoints").glob("student-*/joint")  # one stage: the default schedule is joint
    logged = [json.loads(line) for line in (checkpoints / "trainer_log.jsonl").read_text().splitlines()]
    assert sum(1 for row in logged if row["step"] == 1 and "loss" in row) == 1  # resumed, not restarted
    assert json.loads((killed / "student" / "distill_log.json").read_text())["steps"] == 320
    whole, resumed = _weights(tmp_path / "whole" / "student"), _weights(killed / "student")
    assert whole.keys() == resumed.keys()
    worst = max(float(np.abs(whole[name] - resumed[name]).max()) for name in whole)
    assert worst < 1e-4, f"resumed weights differ from an uninterrupted run's by up to {worst}"


def test_kill_9_mid_export_leaves_the_previous_artifact_and_nothing_bench_would_pick_up(tmp_path):
    model = save_tiny_model(tmp_path / "model", layers=2)
    texts = [text for text, _ in make_texts(60)]
    data = tmp_path / "texts.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in make_texts(60)))
    artifacts = tmp_path / "artifacts"
    previous = export(model, "onnx", "fp32", artifacts / "model", ExportOptions(seq_len=16), texts, texts)
    before = load_runner(previous).predict(texts)
    manifest = (previous / "manifest.json").read_text()

    def staging_is_being_written() -> bool:  # the converter is at work in the hidden staging folder
        return any(any(folder.iterdir()) for folder in artifacts.glob(".model.staging-*"))
    _kill_when([*CLI, "export", str(model), "-o", str(artifacts / "model"), "--target", "executorch", "--precision",
                "fp32", "--seq-len", "16", "--data", str(data), "-q"], staging_is_being_written)

    assert (previous / "manifest.json").read_text() == manifest  # the previous artifact, untouched
    assert np.array_equal(load_runner(previous).predict(texts), before)
    assert list(artifacts.glob(".model.staging-*"))  # the killed writer's staging folder is still there...
    assert expand_artifacts([artifacts]) == [previous]  # ...but discovery never takes it for an artifact

    export(model, "onnx", "int8-dynamic", artifacts / "model", ExportOptions(seq_len=16), texts, texts)
    assert read_manifest(previous).precision == "int8-dynamic"
    assert not list(artifacts.glob(".model.*"))  # the next write cleared the dead writer's leftovers


def test_a_previous_folder_caught_between_two_renames_is_put_back(tmp_path):
    """Where the atomic exchange is unavailable a replace is two renames; a writer killed between them
    leaves the old folder as a hidden backup, which the next write to that place restores first."""
    target = tmp_path / "artifact"
    dead = 2 ** 22 + 12345  # above Linux's default pid_max: no process has it
    backup = tmp_path / f".artifact.old-{dead}"
    backup.mkdir()
    (backup / "manifest.json").write_text("{}")
    stale = tmp_path / f".artifact.staging-{dead}-x"
    stale.mkdir()
    with pytest.raises(RuntimeError):
        with atomic_folder(target):
            assert (target / "manifest.json").read_text() == "{}"  # restored before anything else happens
            raise RuntimeError("the new write fails")
    assert (target / "manifest.json").read_text() == "{}" and not stale.exists() and not backup.exists()
