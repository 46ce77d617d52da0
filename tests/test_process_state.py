"""No stage leaks process-wide state into its caller: torch's thread counts, the environment, the
warnings filters, logging handlers, matplotlib's backend and the libraries' progress-bar switches are
the same after export, bench (with timing, reports and plots) and diagnose as before them. And the
command line's defaults are the config's defaults, its --help imports no torch."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings

import pytest

from mobile_distill.bench import run_bench
from mobile_distill.bench.report import write_reports
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.diagnose import diagnose
from mobile_distill.export import ExportOptions, export

from .planted import planted_texts, save_planted_model

TEXTS = planted_texts(24, seed=3)


def snapshot() -> dict:
    import datasets
    import matplotlib
    import torch
    from transformers.utils import logging as hf_logging

    return {
        "torch threads": torch.get_num_threads(),
        "torch interop threads": torch.get_num_interop_threads(),
        "environment": dict(os.environ),
        "warnings filters": list(warnings.filters),
        "root logging handlers": list(logging.getLogger().handlers),
        "transformers log handlers": list(logging.getLogger("transformers").handlers),
        "transformers verbosity": hf_logging.get_verbosity(),
        "transformers progress bars": hf_logging.is_progress_bar_enabled(),
        "datasets progress bars": datasets.is_progress_bar_enabled(),
        "matplotlib backend": dict.__getitem__(matplotlib.rcParams, "backend"),  # without resolving it
        "stdout": sys.stdout, "stderr": sys.stderr,
    }


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_planted_model(tmp_path_factory.mktemp("state") / "model", TEXTS)


def _every_stage(model, root):
    artifacts = [export(model, target, precision, root / f"{target}-{precision}", ExportOptions(seq_len=16),
                        TEXTS, TEXTS[:4])
                 for target, precision in (("onnx", "int8-dynamic"), ("tflite", "fp32"), ("executorch", "fp32"))]
    settings = BenchConfig(threads=(2,), runs=2, warmup=0, diagnose=True)
    report = run_bench(artifacts, TEXTS, [i % 2 for i in range(len(TEXTS))], model, None, settings, Gate2Config(),
                       seq_len=16, log=root / "bench.log")
    write_reports(report, root / "reports")
    diagnose(artifacts[0], model, TEXTS, threads=2)


@pytest.mark.slow
def test_export_bench_and_diagnose_leave_the_process_as_they_found_it(model, tmp_path):
    import torch

    _every_stage(model, tmp_path / "warm-up")  # libraries register their import-time filters once, here
    before_threads = torch.get_num_threads()
    torch.set_num_threads(1 if before_threads != 1 else 2)  # a caller's own setting, which must survive
    try:
        before = snapshot()
        _every_stage(model, tmp_path / "run")
        after = snapshot()
    finally:
        torch.set_num_threads(before_threads)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert changed == {}


def test_cli_defaults_are_the_config_defaults():
    """Every verb run with no options sets no field, so it builds exactly the configs' defaults (nothing
    is defaulted twice), and the help texts state the configs' defaults, not numbers of their own."""
    from mobile_distill import cli
    from mobile_distill import config as cfg

    parser = cli.build_parser()
    sections = (("train", cfg.TrainConfig), ("student", cfg.StudentConfig), ("weights", cfg.LossWeights),
                ("gate", cfg.GateConfig), ("bench", cfg.BenchConfig), ("gate2", cfg.Gate2Config),
                ("data", cfg.DataConfig), ("export", cfg.QuantizationOptions), ("diagnose", cfg.DiagnoseConfig),
                ("transfer", None), ("run", None))
    for argv in (["run"], ["fine-tune", "-o", "x"], ["distill", "t", "-o", "x"], ["bench", "a"],
                 ["gate", "t", "s", "--data", "d"], ["export", "m", "-o", "x"], ["diagnose", "a"]):
        verb = cli._Verb(parser.parse_args(argv), {})
        for prefix, config_class in sections:
            required = {("run", "output_dir"), ("data", "source")}  # -o and gate's --data are required options
            given = {k: v for k, v in verb.given(prefix).items() if (prefix, k) not in required}
            assert given == {}, (argv, prefix, given)
            if config_class is not None and not given and not verb.given(prefix):
                assert verb.build(config_class, prefix) == config_class()
        assert verb.build(cfg.TrainConfig, "train", cfg.DistillConfig().train) == cfg.DistillConfig().train
    choices = next(a for a in parser._actions if a.dest == "verb").choices
    helps = {action.dest: action.help for action in choices["distill"]._actions}
    assert f"(default: {cfg.DistillConfig().train.epochs})" in helps["train__epochs"]
    assert f"(default: {cfg.DistillConfig().train.learning_rate})" in helps["train__learning_rate"]
    assert f"(default: {cfg.DistillConfig().temperature})" in helps["distill__temperature"]
    assert f"(default: {cfg.GateConfig().min_retention})" in helps["gate__min_retention"]
    helps = {action.dest: action.help for action in choices["fine-tune"]._actions}
    assert f"(default: {cfg.TeacherConfig().fine_tune.epochs})" in helps["train__epochs"]
    helps = {action.dest: action.help for action in choices["bench"]._actions}
    assert f"(default: {cfg.BenchConfig().runs})" in helps["bench__runs"]
    assert all(f"{p}={v}" in helps["gate2__max_accuracy_drop"] for p, v in cfg.Gate2Config().max_accuracy_drop.items())


def test_help_imports_no_torch_and_answers_at_once():
    code = ("import sys, time; start = time.perf_counter(); from mobile_distill.cli import main; "
            "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules, round(time.perf_counter() - start, 3))")
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    torch_loaded, transformers_loaded, seconds = completed.stdout.split()
    assert (torch_loaded, transformers_loaded) == ("False", "False"), completed.stderr
    print(f"mobile-distill --help: {seconds} s in the interpreter, {wall:.2f} s with start-up")
