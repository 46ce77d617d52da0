"""bench and gate 2 on tiny models: the results schema, the contract check, per-precision thresholds,
NOT RUN for Core ML off macOS, baseline regressions, the reports, and the CLI."""

import json
import platform
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from mobile_distill.bench import expand_artifacts, run_bench
from mobile_distill.bench.baseline import compare_with_baseline
from mobile_distill.bench.contract import check_contract
from mobile_distill.bench.gate2 import judge_artifact
from mobile_distill.bench.report import write_reports
from mobile_distill.bench.schema import Scores, BenchReport, ModelEntry
from mobile_distill.cli import main
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.errors import ConfigError
from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest, write_manifest
from mobile_distill.metrics import mean_kl
from mobile_distill.runners import load_runner

from .conftest import make_texts, save_tiny_model

ROWS = make_texts(160, seed=11)
TEXTS, LABELS = [t for t, _ in ROWS], np.array([l for _, l in ROWS])
FAST = BenchConfig(threads=(1,), runs=3, warmup=1, diagnose=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    model = save_tiny_model(root / "student", layers=2, seed=4)
    artifacts = root / "artifacts"
    for target, precision in [("onnx", "fp32"), ("onnx", "int8-dynamic"), ("tflite", "fp32"), ("coreml", "fp32")]:
        export(model, target, precision, artifacts / f"{target}-{precision}-s32", ExportOptions(seq_len=32), TEXTS, TEXTS)
    return model, artifacts


@pytest.fixture(scope="module")
def report(exported, tmp_path_factory):
    model, artifacts = exported
    teacher = save_tiny_model(tmp_path_factory.mktemp("teacher") / "t", layers=3, seed=9)
    return run_bench(expand_artifacts([artifacts]), TEXTS, LABELS, model, teacher, FAST, Gate2Config(), seq_len=32)


def test_bench_runs_every_artifact_in_its_runtime_and_passes_healthy_ones(report, exported):
    model, artifacts = exported
    by_name = {entry.name: entry for entry in report.models}
    assert [e.role for e in report.models[:2]] == ["teacher", "reference"]
    healthy = ["onnx-fp32-s32", "onnx-int8-dynamic-s32", "tflite-fp32-s32"]
    assert all(by_name[name].verdict.status == "PASS" for name in healthy)
    # accuracy comes from the artifact's own runtime on the labelled rows
    logits = load_runner(artifacts / "tflite-fp32-s32").predict(TEXTS)
    assert by_name["tflite-fp32-s32"].scores.accuracy == pytest.approx(np.mean(logits.argmax(-1) == LABELS))
    assert by_name["onnx-fp32-s32"].scores.max_abs_logit_diff < 1e-4
    for name in healthy + ["pytorch reference", "pytorch teacher"]:
        performance = by_name[name].performance
        latency = performance.latency[0]
        assert latency.threads == 1 and len(latency.samples_ms) == 3
        assert 0 < latency.p50_ms <= latency.p90_ms <= latency.p99_ms
        assert performance.peak_rss_mb >= performance.baseline_rss_mb > 50
    assert all(check.ok for check in by_name["onnx-fp32-s32"].contract)
    assert report.chain["teacher_accuracy"] == by_name["pytorch teacher"].scores.accuracy
    assert by_name["onnx-fp32-s32"].teacher_retention is not None


@pytest.mark.skipif(platform.system() == "Darwin", reason="Core ML runs on macOS")
def test_core_ml_off_macos_is_not_run_never_pass(report):
    entry = next(e for e in report.models if e.target == "coreml")
    assert entry.verdict.status == "NOT RUN" and "macOS" in entry.verdict.reasons[0]
    assert entry.scores is None and report.verdict == "PASS"


def test_reports_are_written_in_every_format(report, tmp_path):
    paths = write_reports(report, tmp_path)
    stored = BenchReport.model_validate_json(paths["json"].read_text())
    assert stored.kind == "mobile-distill-bench" and stored.schema_version == 1
    assert [m.name for m in stored.models] == [m.name for m in report.models]
    suite = ElementTree.parse(paths["junit"]).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {e.name for e in report.artifacts()}
    assert cases["coreml-fp32-s32"].find("skipped") is not None if platform.system() != "Darwin" else True
    assert suite.get("failures") == "0"
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 3 and "<script" not in page  # self-contained, no assets
    assert "onnx-int8-dynamic-s32" in paths["markdown"].read_text()


def test_contract_check_fails_a_manifest_that_lies_and_a_swapped_tokenizer(exported, tmp_path):
    model, artifacts = exported
    reference = load_runner(model, seq_len=32)
    import shutil

    lying = shutil.copytree(artifacts / "onnx-fp32-s32", tmp_path / "lying")
    manifest = read_manifest(lying)
    inputs = tuple(spec.model_copy(update={"dtype": "int32"}) for spec in manifest.inputs)
    write_manifest(lying, manifest.model_copy(update={"inputs": inputs}))
    checks = {c.name: c for c in check_contract(load_runner(lying), reference, TEXTS)}
    assert not checks["inputs"].ok and "takes int64, the manifest says int32" in checks["inputs"].detail

    cased = shutil.copytree(artifacts / "onnx-fp32-s32", tmp_path / "cased")
    tokenizer = json.loads((cased / "tokenizer.json").read_text())
    tokenizer["normalizer"]["lowercase"] = False
    (cased / "tokenizer.json").write_text(json.dumps(tokenizer))
    settings = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**settings, "do_lower_case": False}))
    capitalised = [text.capitalize() for text in TEXTS]
    checks = {c.name: c for c in check_contract(load_runner(cased), reference, capitalised)}
    assert not checks["tokenizer"].ok
    assert "do_lower_case: artifact False vs reference True" in checks["tokenizer"].detail
    assert "tokenise differently" in checks["tokenizer"].detail


def _entry(precision: str, accuracy: float, agreement: float, role="artifact", rows=1000) -> ModelEntry:
    return ModelEntry(role=role, name=f"x-{precision}", target="onnx", precision=precision, path="x",
                      sequence_length=32, size_bytes=1,
                      scores=Scores(rows=rows, accuracy=accuracy, macro_f1=accuracy, agreement_reference=agreement))


@pytest.mark.parametrize("precision,accuracy,agreement,passes", [
    ("fp32", 0.896, 0.996, True),   # 0.4 points down, 99.6% agreement
    ("fp32", 0.894, 0.999, False),  # 0.6 points > 0.5
    ("fp16", 0.899, 0.994, False),  # agreement < 99.5%
    ("int8-dynamic", 0.891, 0.981, True),  # 0.9 points, 98.1%
    ("int8-static", 0.889, 0.99, False),   # 1.1 points > 1.0
    ("palettized", 0.90, 0.97, False),
])
def test_gate2_thresholds_per_precision(precision, accuracy, agreement, passes):
    reference = _entry("fp32", 0.90, 1.0, role="reference")
    verdict = judge_artifact(_entry(precision, accuracy, agreement), reference, None, Gate2Config())
    assert (verdict.status == "PASS") == passes, verdict.reasons


def test_chained_budget_fails_an_artifact_far_below_the_teacher():
    reference, teacher = _entry("fp32", 0.90, 1.0, "reference"), _entry("fp32", 0.95, 1.0, "teacher")
    artifact = _entry("fp32", 0.90, 1.0)
    artifact.teacher_retention = 0.90 / 0.95
    verdict = judge_artifact(artifact, reference, teacher, Gate2Config(min_teacher_retention=0.96))
    assert verdict.status == "FAIL" and "retention vs teacher 0.9474 < 0.96" in verdict.reasons[0]


@pytest.mark.parametrize("rows,warned", [(1000, []), (150, ["fp32"]), (60, ["fp32", "int8-dynamic"])])
def test_gate2_warns_when_one_test_row_is_coarser_than_a_threshold(rows, warned):
    from mobile_distill.bench.gate2 import resolution_warnings

    report = BenchReport(created_at="now", device={}, data={}, settings={}, thresholds={},
                         models=[_entry("fp32", 0.9, 1.0, "reference", rows), _entry("fp32", 0.9, 1.0, rows=rows),
                                 _entry("int8-dynamic", 0.9, 1.0, rows=rows)])
    warnings = resolution_warnings(report, Gate2Config())
    assert [w.split("so for ")[1].split(" ")[0] for w in warnings] == warned  # 150 rows: 0.67 points > 0.5, < 1.0
    assert all(f"{rows} test rows" in w for w in warnings)


def test_every_registered_precision_has_gate2_thresholds():
    from mobile_distill.targets import supported_pairs

    config = Gate2Config()
    assert {p for _, p in supported_pairs()} <= set(config.max_accuracy_drop) & set(config.min_agreement)


def test_baseline_mode_fails_on_accuracy_and_latency_regressions(report, tmp_path):
    stored = report.model_copy(deep=True)
    target = next(e for e in stored.models if e.name == "onnx-fp32-s32")
    target.scores.accuracy += 0.02  # the earlier run was 2 points better
    for latency in target.performance.latency:
        latency.p50_ms /= 3  # and three times as fast
    path = tmp_path / "baseline.json"
    path.write_text(stored.model_dump_json())
    current = report.model_copy(deep=True)
    compare_with_baseline(current, path, BenchConfig())
    regressions = [r["what"] for r in current.baseline["regressions"] if r["model"] == "onnx-fp32-s32"]
    assert len(regressions) == 2 and "accuracy" in regressions[0] and "p50 latency" in regressions[1]
    assert current.verdict == "FAIL"
    assert next(e for e in current.models if e.name == "onnx-fp32-s32").verdict.status == "FAIL"

    same = report.model_copy(deep=True)
    compare_with_baseline(same, _dump(report, tmp_path / "same.json"), BenchConfig())
    assert same.baseline["regressions"] == [] and same.verdict == "PASS"


def _dump(report, path):
    path.write_text(report.model_dump_json())
    return path


def test_kl_is_zero_for_identical_logits_and_infinite_for_nan():
    logits = np.array([[1.0, -2.0], [0.5, 0.2]])
    assert mean_kl(logits, logits) == pytest.approx(0, abs=1e-12)
    assert mean_kl(logits, np.array([[np.nan, 0.0], [0.0, 0.0]])) == float("inf")


def test_bench_cli_gates_and_reports_through_the_manifest_reference(exported, tmp_path, tiny_csv, capsys):
    model, artifacts = exported
    out = tmp_path / "reports"
    code = main(["bench", str(artifacts / "onnx-fp32-s32"), "--data", str(tiny_csv), "--text-column", "review",
                 "--label-column", "sentiment", "--teacher", "none", "--threads", "1", "--runs", "2", "-o", str(out)])
    assert code == 0
    assert "PASS" in capsys.readouterr().out
    stored = json.loads((out / "bench.json").read_text())
    assert stored["models"][0]["path"] == str(model)  # the reference came from the manifest

    code = main(["bench", str(artifacts / "onnx-fp32-s32"), "--data", str(tiny_csv), "--text-column", "review",
                 "--label-column", "sentiment", "--teacher", "none", "--runs", "2", "--baseline", str(tmp_path / "nope.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "--baseline" in err and "nope.json" in err


@pytest.mark.parametrize("argv,needle", [
    (["bench", "/nonexistent/x"], "not an artifact folder"),
    (["bench", "{artifact}", "--threads", "one"], "--threads: 'one': expected comma-separated whole numbers"),
    (["bench", "{artifact}", "--max-drop", "fp32:1"], "PRECISION=NUMBER"),
    (["bench", "{artifact}", "--max-drop", "fp99=1"], "fp99"),
])
def test_bench_cli_bad_input_is_one_line(exported, capsys, argv, needle):
    _, artifacts = exported
    argv = [part.format(artifact=artifacts / "onnx-fp32-s32") for part in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err and "Traceback" not in err


def test_expand_artifacts_rejects_a_folder_without_any(tmp_path):
    with pytest.raises(ConfigError, match="not an artifact folder"):
        expand_artifacts([tmp_path])


def test_diagnose_cli_reports_a_healthy_artifact_and_writes_json(exported, tmp_path, tiny_csv, capsys):
    _, artifacts = exported
    out = tmp_path / "diagnosis.json"
    code = main(["diagnose", str(artifacts / "onnx-int8-dynamic-s32"), "--data", str(tiny_csv), "--text-column",
                 "review", "--label-column", "sentiment", "--texts", "40", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "agreement with the reference" in printed and "on 40 test texts" in printed
    found = json.loads(out.read_text())
    assert {check["name"] for check in found["checks"]} >= {"input-binding", "attention-mask", "tokenizer", "layers"}
    assert found["causes"] == [] and "no known cause found" in printed  # a healthy int8 artifact has no cause
    assert not [check for check in found["checks"] if check["status"] in ("crashed", "found")]
    layers = next(check for check in found["checks"] if check["name"] == "layers")
    assert layers["status"] == "clear" and layers["detail"]["quantized_nodes"] > 0  # it compared, and found no break


def test_integer_labels_are_taken_as_logit_indices_and_the_mapping_is_reported(exported, tmp_path, capsys):
    """The Hugging Face convention: labels 0..N-1 index the logits, whatever the model calls its classes."""
    model, artifacts = exported
    data = tmp_path / "indices.csv"
    data.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in ROWS))
    out = tmp_path / "reports"
    code = main(["bench", str(artifacts / "onnx-fp32-s32"), "--data", str(data), "--teacher", "none", "--no-timing",
                 "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    stored = json.loads((out / "bench.json").read_text())
    assert stored["data"]["label_mapping"] == {"0": "negative", "1": "positive"}
    assert "The data's labels were logit indices: 0 = negative, 1 = positive." in (out / "report.md").read_text()
    assert "logit indices: 0 = negative" in capsys.readouterr().out

    named = tmp_path / "other.csv"
    named.write_text("text,label\n" + "".join(f"{text},{'good' if label else 'bad'}\n" for text, label in ROWS))
    assert main(["bench", str(artifacts / "onnx-fp32-s32"), "--data", str(named), "--teacher", "none",
                 "--no-timing", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "the data's labels ['bad', 'good'] are not the reference model's" in err
