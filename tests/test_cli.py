import json
import subprocess
import sys

import pytest
import yaml

from mobile_distill.cli import build_parser, main
from mobile_distill.hashing import folder_hash

from .conftest import save_tiny_model


def _recipe(tmp_path, tiny_csv, teacher, **gate):
    recipe = {
        "version": 1,
        "name": "tiny",
        "output_dir": str(tmp_path / "run"),
        "cache_dir": str(tmp_path / "cache"),
        "seed": 0,
        "data": {"source": str(tiny_csv), "text_column": "review", "label_column": "sentiment", "max_length": 32},
        "teacher": {"model": str(teacher),
                    "fine_tune": {"epochs": 4, "learning_rate": 3e-3, "batch_size": 16, "save_steps": 40}},
        "distill": {"train": {"epochs": 3, "learning_rate": 3e-3, "batch_size": 16, "save_steps": 40}},
        "gate": gate or {"min_retention": 0.9},
        # 40 test rows: one row is 2.5 points, so int8 gets limits a row can't decide (fp32 is exact here)
        "gate2": {"min_teacher_retention": 0.9, "max_accuracy_drop": {"int8-static": 5.0},
                  "min_agreement": {"int8-static": 0.95}},
        "export": {"targets": ["onnx"], "precisions": ["fp32", "int8-static"], "seq_lens": [16, 32]},
        "bench": {"threads": [1], "runs": 3, "warmup": 0, "rounds": 1, "min_duration_s": 0},  # timing: test_bench.py
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow
def test_run_chains_the_stages_and_a_rerun_reuses_them(tmp_path, tiny_csv, capsys):
    teacher = save_tiny_model(tmp_path / "init", layers=4)
    recipe = _recipe(tmp_path, tiny_csv, teacher)
    assert main(["run", str(recipe)]) == 0
    run = tmp_path / "run"
    report = json.loads((run / "student" / "distill_report.json").read_text())
    assert report["verdict"] == "PASS" and report["retention"] >= 0.9
    assert report["teacher"]["test"]["accuracy"] > 0.8  # the tiny task is learnable: the pipeline really trained
    assert report["student"]["layers"] == 2 and report["student"]["model_type"] == "distilbert"
    assert yaml.safe_load((run / "recipe.yaml").read_text())["name"] == "tiny"  # resolved recipe kept
    assert "PASS" in capsys.readouterr().out
    summary = json.loads((run / "run_summary.json").read_text())
    assert {"data", "fine-tune", "distill", "gate", "export"} <= set(summary["seconds"])
    names = ["onnx-fp32-s16", "onnx-fp32-s32", "onnx-int8-static-s16", "onnx-int8-static-s32"]
    assert summary["artifacts"] == names and sorted(p.name for p in (run / "artifacts").iterdir()) == names
    made = {name: (run / "artifacts" / name / "manifest.json").read_text() for name in names}
    assert json.loads(made["onnx-int8-static-s32"])["source"]["hash"] == folder_hash(run / "student")
    bench = json.loads((run / "bench" / "bench.json").read_text())
    assert [m["name"] for m in bench["models"]] == ["pytorch teacher", "pytorch reference"] + names
    assert summary["gate2"] == bench["verdict"] == "PASS" and (run / "bench" / "report.html").is_file()

    assert main(["run", str(recipe)]) == 0  # nothing is trained or exported again
    summary = json.loads((run / "run_summary.json").read_text())
    assert "distill" not in summary["seconds"]
    assert any("cached teacher" in s for s in summary["skipped"])
    assert all((run / "artifacts" / name / "manifest.json").read_text() == made[name] for name in names)


def test_gate_failure_exits_1_with_the_numbers(tmp_path, tiny_csv, capsys):
    run = tmp_path / "run"
    teacher = save_tiny_model(tmp_path / "teacher", layers=2, seed=1)
    student = save_tiny_model(tmp_path / "student", model_type="distilbert", layers=1, seed=2)
    main(["fine-tune", str(teacher), "-o", str(run), "--data", str(tiny_csv), "--text-column", "review",
          "--label-column", "sentiment", "--epochs", "0.1", "--cache-dir", str(tmp_path / "cache")])
    code = main(["gate", str(run / "teacher"), str(student), "--data", str(run / "data"), "--min-retention", "1.4"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL" in captured.out and "retention" in captured.err


def test_bad_recipe_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ndistill:\n  temprature: 3\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "distill.temprature: unknown key" in err and "Traceback" not in err


def test_missing_data_column_is_a_one_line_error(tmp_path, tiny_csv, capsys):
    teacher = save_tiny_model(tmp_path / "t")
    capsys.readouterr()
    assert main(["distill", str(teacher), "-o", str(tmp_path / "out"), "--data", str(tiny_csv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mobile-distill distill: error: ") and err.count("\n") == 0
    assert "no column 'text'" in err and "review, sentiment" in err


def test_bad_option_value_names_the_option(tmp_path, capsys):
    teacher = save_tiny_model(tmp_path / "t")
    assert main(["distill", str(teacher), "-o", str(tmp_path / "o"), "--temperature", "-1", "--data", "imdb"]) == 2
    assert "temperature" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["run", "fine-tune", "distill", "gate", "export"])
def test_every_option_has_help(verb):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{verb} {action.option_strings or action.dest} has no help"


def test_console_script_help_in_a_subprocess():
    completed = subprocess.run([sys.executable, "-m", "mobile_distill.cli", "--help"], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0
    for verb in ("run", "fine-tune", "distill", "gate"):
        assert verb in completed.stdout


def test_library_messages_name_config_fields_and_the_cli_shows_its_flags():
    from mobile_distill.cli import _Verb
    from mobile_distill.options import option_flags
    from mobile_distill.errors import ConfigError

    parser = build_parser()
    bench = next(a for a in parser._actions if a.dest == "verb").choices["bench"]
    verb = _Verb(None, option_flags(bench))
    message = verb.flagged(ConfigError("baseline runs/baseline/bench.json: no such file", fields=("baseline",)))
    assert message == "--baseline runs/baseline/bench.json: no such file"  # the flag, and the path left alone
    export = next(a for a in parser._actions if a.dest == "verb").choices["export"]
    verb = _Verb(None, option_flags(export))
    message = verb.flagged(ConfigError("target coreml with precision int4 is not supported", fields=("target", "precision")))
    assert message == "--target coreml with --precision int4 is not supported"


def test_progress_updated_from_a_worker_thread_reaches_the_terminal_not_the_log(tmp_path):
    """The aarch64 lane updates its bar from one thread per CPU while native output goes to bench.log: the
    lines must reach the terminal (here a pipe, in a process of its own: file descriptors are redirected)."""
    log = tmp_path / "native.log"
    code = ("import threading; from pathlib import Path; from mobile_distill import ui\n"
            f"with ui.native_output_to(Path({str(log)!r})), ui.progress('aarch64 lane', 2) as bar:\n"
            "    worker = threading.Thread(target=bar.update, args=('onnx-int8 done on cortex-a76',),\n"
            "                              kwargs={'advance': 1})\n"
            "    worker.start(); worker.join()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "onnx-int8 done on cortex-a76: 1/2" in done.stderr, done.stderr
    assert "done on" not in log.read_text()
