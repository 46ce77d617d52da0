"""The Android demo's plain-Java core, on this machine: its JUnit suite against golden tokenizer
files of four vocabularies and numpy/scikit-learn statistics, and the whole device loop with the
Java code doing the phone's part (app-bundle -> Java tokenizer, binding by name, benchmark and
results writer, the real exported file run in its own runtime -> report --device-results -> gate 2).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mobile_distill.bench import expand_artifacts, run_bench
from mobile_distill.bench.report import write_reports
from mobile_distill.bench.schema import BenchReport
from mobile_distill.cli import main
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.device import Sample, app_bundle
from mobile_distill.export import ExportOptions, export

from .android import compile_core, run_java_tests, write_golden_folders, write_stats_vectors
from .planted import planted_texts, save_planted_model

TEXTS = planted_texts(120, seed=21)
NO_TIMING = BenchConfig(threads=(1,), timing=False, diagnose=False)
PAIRS = [("onnx", "fp32"), ("tflite", "fp32")]


@pytest.mark.slow
def test_java_core_suite_passes_on_golden_files_of_four_vocabularies(tmp_path):
    from mobile_distill.models import builtin_models

    golden = write_golden_folders(tmp_path / "golden", builtin_models()["all-minilm-l6-v2"])
    for folder in golden:  # what the suite is held to: every file is large and has pairs
        rows = json.loads((folder / "tokenizer_golden.json").read_text())["rows"]
        assert len(rows) >= 2000 and sum("text_pair" in row for row in rows) >= 300
        assert any(len(word) > 100 for row in rows for word in row["text"].split())
    done = run_java_tests(golden, write_stats_vectors(tmp_path / "vectors.json"))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "tests failed" in done.stdout and " 0 tests failed" in done.stdout


def _labels_from(reference_logits: np.ndarray, seed: int = 0) -> np.ndarray:
    """Labels the reference gets about 85% right: accuracy means something, and so does a drop."""
    predicted = reference_logits.argmax(-1)
    flip = np.random.default_rng(seed).random(len(predicted)) < 0.15
    return np.where(flip, 1 - predicted, predicted)


def _export(model, root):
    for target, precision in PAIRS:
        export(model, target, precision, root / f"{target}-{precision}-s32", ExportOptions(seq_len=32), TEXTS, TEXTS[:40])
    return expand_artifacts([root])


@pytest.fixture(scope="module")
def device_loop(tmp_path_factory):
    """A benched pair of artifacts, their app bundle, and results written by the Java core's JVM harness."""
    from mobile_distill.runners import load_runner

    root = tmp_path_factory.mktemp("device")
    model = save_planted_model(root / "student", TEXTS, seed=3)
    artifacts = _export(model, root / "artifacts")
    logits = load_runner(model, seq_len=32).predict(TEXTS)
    # The planted model's bias is the median logit gap, so one text is a tie that float noise decides
    # either way; fp32's agreement floor (0.995) is finer than one row of 120. Keep decided texts.
    decided = np.abs(logits[:, 1] - logits[:, 0]) > 1e-3
    texts, labels = [t for t, keep in zip(TEXTS, decided) if keep], _labels_from(logits[decided])
    report = run_bench(artifacts, texts, labels, model, None, NO_TIMING, Gate2Config(), seq_len=32)
    write_reports(report, root / "bench")
    assets = root / "assets"
    app_bundle(artifacts, assets, Sample(texts, labels.tolist(), ["negative", "positive"], {"source": "planted"}), model)
    classes = compile_core()
    return root, artifacts, assets, classes


def host_benchmark(classes, bundle, out, *extra) -> subprocess.CompletedProcess:
    import os

    command = ["java", "-cp", os.pathsep.join([str(classes), "/usr/share/java/gson.jar"]),
               "dev.mobiledistill.core.host.HostBenchmark", "--bundle", str(bundle), "--out", str(out),
               "--runs", "5", "--warmup", "1", "--python", sys.executable, *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def java_results(device_loop):
    root, _, assets, classes = device_loop
    done = host_benchmark(classes, assets, root / "results.json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "results.json"


@pytest.mark.slow
def test_results_written_by_the_java_core_follow_the_bench_schema(java_results, device_loop):
    results = BenchReport.model_validate_json(java_results.read_text())
    assert results.device["kind"] == "jvm-host"
    assert {entry.name for entry in results.models} == {"onnx-fp32-s32", "tflite-fp32-s32"}
    for entry in results.models:
        assert len(entry.predictions) == len(results.data["row_labels"]) >= 100
        assert entry.performance.latency[0].runs == 5
        # The Java tokenizer + binding by name feeding the real file in its runtime gives the
        # reference's predictions: agreement the phone would report.
        assert entry.scores.agreement_reference == 1.0


@pytest.mark.slow
def test_device_results_merge_into_the_reports_and_pass_gate_2(java_results, device_loop, tmp_path):
    root = device_loop[0]
    assert main(["report", str(root / "bench"), "--device-results", str(java_results), "-o", str(tmp_path)]) == 0
    report = BenchReport.model_validate_json((tmp_path / "bench.json").read_text())
    devices = [entry for entry in report.artifacts() if entry.device]
    assert len(devices) == 2 and all(entry.verdict.status == "PASS" for entry in devices)
    assert [entry.name for entry in report.artifacts()][:2] == ["onnx-fp32-s32", f"onnx-fp32-s32 @ {devices[0].device}"]
    assert "@" in (tmp_path / "junit.xml").read_text() and devices[0].device in (tmp_path / "report.html").read_text()


@pytest.mark.slow
def test_a_model_that_collapses_only_on_the_phone_fails_gate_2_naming_the_device(java_results, device_loop, tmp_path,
                                                                              capsys):
    payload = json.loads(java_results.read_text())
    collapsed = next(entry for entry in payload["models"] if entry["name"] == "tflite-fp32-s32")
    collapsed["predictions"] = [0] * len(collapsed["predictions"])  # one class for every text, as a collapse does
    planted = tmp_path / "collapsed.json"
    planted.write_text(json.dumps(payload))
    assert main(["report", str(device_loop[0] / "bench"), "--device-results", str(planted), "-o", str(tmp_path)]) == 1
    report = BenchReport.model_validate_json((tmp_path / "bench.json").read_text())
    verdicts = {entry.name: entry.verdict for entry in report.artifacts()}
    failed = [name for name, verdict in verdicts.items() if verdict.status == "FAIL"]
    assert len(failed) == 1 and failed[0].startswith("tflite-fp32-s32 @ ")
    assert verdicts["tflite-fp32-s32"].status == "PASS"  # the host run of the same file is fine
    assert any("agreement" in reason and "on " in reason for reason in verdicts[failed[0]].reasons)
    assert report.verdict == "FAIL" and "FAIL" in capsys.readouterr().err


@pytest.mark.slow
def test_results_from_another_export_are_a_clear_error(device_loop, tmp_path, capsys):
    root, _, _, classes = device_loop
    other = _export(save_planted_model(tmp_path / "other", TEXTS, seed=8), tmp_path / "artifacts")  # same names
    app_bundle(other, tmp_path / "assets", Sample(TEXTS[:20], [0, 1] * 10, ["negative", "positive"], {}),
               tmp_path / "other")
    done = host_benchmark(classes, tmp_path / "assets", tmp_path / "results.json", "--artifact", "onnx-fp32-s32")
    assert done.returncode == 0, done.stderr[-3000:]
    capsys.readouterr()  # what saving and exporting printed
    assert main(["report", str(root / "bench"), "--device-results", str(tmp_path / "results.json")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "onnx-fp32-s32" in error and "another export" in error


def test_app_bundle_refuses_artifacts_the_app_cannot_run(tmp_path, capsys):
    model = save_planted_model(tmp_path / "student", TEXTS[:20])
    export(model, "executorch", "fp32", tmp_path / "executorch-fp32-s32", ExportOptions(seq_len=32), TEXTS[:20])
    assert main(["app-bundle", str(tmp_path / "executorch-fp32-s32"), "-o", str(tmp_path / "assets"),
                 "--reference", str(model), "--data", str(tmp_path / "missing.csv")]) == 2
    error = capsys.readouterr().err
    assert "executorch" in error and "Android demo runs" in error and not (tmp_path / "assets").exists()


@pytest.mark.slow
def test_an_artifact_the_phone_could_not_run_fails_gate_2(java_results, device_loop, tmp_path):
    payload = json.loads(java_results.read_text())
    entry = next(entry for entry in payload["models"] if entry["name"] == "onnx-fp32-s32")
    for key in ("runtime", "accuracy", "performance", "predictions", "logits"):
        entry.pop(key, None)
    entry.update(status="not-run", note="ORT could not load the model: unsupported op")
    (tmp_path / "not-run.json").write_text(json.dumps(payload))
    assert main(["report", str(device_loop[0] / "bench"), "--device-results", str(tmp_path / "not-run.json"),
                 "-o", str(tmp_path)]) == 1
    report = BenchReport.model_validate_json((tmp_path / "bench.json").read_text())
    verdict = next(e.verdict for e in report.artifacts() if e.device and e.name.startswith("onnx-fp32-s32"))
    assert verdict.status == "FAIL" and "unsupported op" in verdict.reasons[0]
