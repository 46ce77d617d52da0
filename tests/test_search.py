"""The budget search on a tiny task: it never trains a candidate whose untrained estimate is outside
the budget, the artifact it chooses is inside it (measured in its own runtime), the time limit stops
it, and a search killed halfway resumes without redoing finished candidates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mobile_distill.config import BudgetConfig, SearchConfig, StudentConfig, TrainConfig
from mobile_distill.errors import ConfigError
from mobile_distill.search import search
from mobile_distill.search.report import choose, pareto_front

from .conftest import tiny_run

FAST = TrainConfig(epochs=3.0, learning_rate=1e-2, batch_size=16, save_steps=20)
DISTILBERT = StudentConfig(type="distilbert", num_layers=2, trim_vocabulary=True)
CNN = StudentConfig(type="cnn", embedding_size=8, filters=8, intermediate_size=8, kernel_sizes=(2, 3),
                    trim_vocabulary=True)
CNN_WIDER = CNN.model_copy(update={"filters": 12})


def _config(max_size_mb: float, *candidates, minutes: float = 10.0) -> SearchConfig:
    # one precision: every precision costs an export and a timing process per candidate, twice
    return SearchConfig(budget=BudgetConfig(target="onnx", max_size_mb=max_size_mb, max_accuracy_drop=25.0, seq_len=32),
                        candidates=candidates, precisions=("int8-dynamic",), transformer_train=FAST,
                        textnet_train=FAST, textnet_augment=None, timing_runs=5, time_limit_minutes=minutes)


@pytest.mark.slow
def test_only_candidates_that_fit_are_trained_and_the_choice_is_inside_the_budget(trained_teacher, data, tmp_path):
    # the tiny DistilBERT's ONNX file is about 0.07 MB, the CNN's about 0.01 MB
    result = search(trained_teacher, data, _config(0.03, DISTILBERT, CNN), tiny_run(tmp_path))
    by_name = {record["name"]: record for record in result.report["candidates"]}
    distilbert, cnn = by_name["distilbert-2l"], by_name["cnn-8"]
    assert not any(m["fits"] for m in distilbert["estimate"]["precisions"].values())
    assert distilbert["result"]["status"] == "not-trained" and "outside the budget" in distilbert["result"]["reason"]
    assert [folder.name.rsplit("-", 1)[0] for folder in (tmp_path / "search" / "candidates").iterdir()] == ["cnn-8"]
    assert cnn["result"]["status"] == "trained"
    chosen = result.chosen
    assert chosen is not None and chosen["candidate"] == "cnn-8" and chosen["gate2"] == "PASS"
    assert chosen["size_mb"] <= 0.03 and chosen["accuracy"] >= result.report["accuracy_floor"]
    model_file = Path(chosen["path"]) / json.loads((Path(chosen["path"]) / "manifest.json").read_text())["model_file"]
    assert model_file.stat().st_size / 1e6 == pytest.approx(chosen["size_mb"])  # the file itself, not a guess
    for name in ("search.json", "search.md", "pareto.png"):
        assert (tmp_path / "search" / name).is_file()
    assert "**Chosen: cnn-8/" in (tmp_path / "search" / "search.md").read_text()


def test_the_pareto_front_and_the_choice():
    rows = [dict(id=name, gate2=gate, accuracy=acc, latency_ms=ms, size_mb=mb, meets_budget=inside)
            for name, gate, acc, ms, mb, inside in [
                ("a", "PASS", 0.90, 5.0, 10.0, False), ("b", "PASS", 0.88, 1.0, 2.0, True),
                ("c", "PASS", 0.87, 2.0, 3.0, True),  # beaten by b on all three
                ("d", "FAIL", 0.95, 0.5, 1.0, False),  # fails gate 2: never on the front
                ("e", "PASS", 0.88, 0.9, 2.5, True)]]  # faster than b, larger: both on the front
    assert [row["id"] for row in pareto_front(rows)] == ["e", "b", "a"]
    assert choose(rows)["id"] == "e"  # b and e equally accurate: the faster
    assert choose([dict(rows[0])]) is None


def test_a_budget_with_no_limit_or_a_target_that_does_not_run_here_is_refused(trained_teacher, data, tmp_path):
    config = _config(1.0, CNN)
    with pytest.raises(ConfigError, match="set max_latency_ms or max_size_mb"):
        search(trained_teacher, data, config.model_copy(update={"budget": BudgetConfig(target="onnx")}),
               tiny_run(tmp_path))
    if sys.platform != "darwin":
        with pytest.raises(ConfigError, match="coreml does not run on this machine"):
            search(trained_teacher, data, config.model_copy(update={"budget": BudgetConfig(target="coreml",
                                                                                           max_size_mb=1)}), tiny_run(tmp_path))


def test_the_time_limit_stops_the_search_before_training(trained_teacher, data, tmp_path):
    result = search(trained_teacher, data, _config(1.0, CNN, minutes=1e-4), tiny_run(tmp_path))
    (record,) = result.report["candidates"]
    assert record["result"] == {"status": "not-started", "reason": "time limit reached"}
    assert result.chosen is None and not (tmp_path / "search" / "candidates").exists()


@pytest.mark.slow
def test_a_killed_search_resumes_and_redoes_no_finished_candidate(tiny_csv, tmp_path):
    from .conftest import save_tiny_model

    teacher = save_tiny_model(tmp_path / "init", layers=4)
    fast = FAST.model_dump()
    recipe = {
        "version": 1, "name": "tiny-search", "output_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
        "seed": 0, "data": {"source": str(tiny_csv), "text_column": "review", "label_column": "sentiment",
                            "max_length": 32},
        "teacher": {"model": str(teacher), "fine_tune": {**fast, "epochs": 4, "learning_rate": 3e-3}},
        "search": {**_config(1.0, CNN, CNN_WIDER).model_dump(mode="json", exclude={"candidates"}),
                   "candidates": [c.model_dump(mode="json", exclude_defaults=True) for c in (CNN_WIDER, CNN)]},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "mobile_distill.cli", "search", str(path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    candidates = tmp_path / "run" / "search" / "candidates"
    deadline = time.monotonic() + 600
    while not list(candidates.glob("*/result.json")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # with the first candidate finished, the second one in its way
    process.wait()
    (first,) = list(candidates.glob("*/result.json"))
    written = first.stat().st_mtime_ns
    assert subprocess.run(command, env=env, capture_output=True, text=True, check=False).returncode == 0
    assert first.stat().st_mtime_ns == written  # reused, not redone
    report = json.loads((tmp_path / "run" / "search" / "search.json").read_text())
    assert [r["result"]["status"] for r in report["candidates"]] == ["trained", "trained"]
