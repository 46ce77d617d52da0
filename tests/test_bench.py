"""bench and gate 2 on tiny models: the results schema, the contract check, per-precision thresholds,
NOT RUN for Core ML off macOS, baseline regressions, the reports, and the CLI."""

import json
import platform
import xml.etree.ElementTree as ElementTree
from pathlib import Path

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
FAST = BenchConfig(threads=(1,), runs=3, warmup=1, rounds=2, min_duration_s=0.05, diagnose=False)


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
        assert latency.threads == 1 and performance.rounds == latency.rounds == 2
        assert 0 < latency.p50_ms <= latency.p90_ms <= latency.p99_ms
        assert performance.peak_rss_mb >= performance.baseline_rss_mb > 10
        assert performance.model_memory_mb == pytest.approx(performance.peak_rss_mb - performance.baseline_rss_mb,
                                                            abs=0.11)
    assert all(check.ok for check in by_name["onnx-fp32-s32"].contract)
    assert report.chain["teacher_accuracy"] == by_name["pytorch teacher"].scores.accuracy
    assert by_name["onnx-fp32-s32"].teacher_retention is not None


def test_each_round_times_until_both_its_minimum_runs_and_its_minimum_duration_are_met(report):
    for entry in report.models:
        if entry.performance is None:
            continue
        latency = entry.performance.latency[0]
        assert len(latency.round_runs) == len(latency.round_seconds) == len(latency.round_p50_ms) == 2, entry.name
        assert min(latency.round_runs) >= FAST.runs and sum(latency.round_runs) == latency.runs
        assert min(latency.round_seconds) >= FAST.min_duration_s and latency.min_duration_s == FAST.min_duration_s
        assert latency.p50_ms == pytest.approx(float(np.median(latency.round_p50_ms)), abs=1e-3)
        assert latency.round_spread == pytest.approx(max(latency.round_p50_ms) / min(latency.round_p50_ms) - 1, abs=1e-2)
        assert latency.tail == latency.p90_ms / latency.p50_ms and latency.cv > 0


def test_the_timing_loop_stops_only_when_both_minimums_are_met():
    from mobile_distill.bench.timing_process import timed_runs

    now, calls = [0.0], []

    def call():  # each run takes 10 ms of a clock the test owns: no real time is measured
        calls.append(now[0])
        now[0] += 0.010

    samples, seconds = timed_runs(call, warmup=2, min_runs=3, min_duration_s=0.25, clock=lambda: now[0])
    assert len(samples) == 25 and len(calls) == 27 and seconds >= 0.25  # the duration decided: 25 x 10 ms
    assert samples == pytest.approx([10.0] * 25)
    samples, _ = timed_runs(call, warmup=0, min_runs=40, min_duration_s=0.25, clock=lambda: now[0])
    assert len(samples) == 40  # the count decided


def test_artifacts_are_timed_in_a_process_holding_only_their_runtime(report):
    by_name = {entry.name: entry for entry in report.models}
    for name, runtime in [("onnx-fp32-s32", "onnxruntime"), ("onnx-int8-dynamic-s32", "onnxruntime"),
                          ("tflite-fp32-s32", "ai_edge_litert")]:
        performance = by_name[name].performance
        assert runtime in performance.process_packages and "numpy" in performance.process_packages
        assert not {"torch", "transformers", "tokenizers"} & set(performance.process_packages), name
        assert performance.runtime_settings
    for name in ("pytorch reference", "pytorch teacher"):  # the PyTorch models keep their whole runner
        assert {"torch", "transformers"} <= set(by_name[name].performance.process_packages)


def test_the_timing_process_gets_the_ids_the_artifacts_runner_would_feed(exported, tmp_path):
    from mobile_distill.bench.measure import _app_spec

    _, artifacts = exported
    for name in ("onnx-int8-dynamic-s32", "tflite-fp32-s32"):
        folder = tmp_path / name
        folder.mkdir()
        spec = _app_spec(artifacts / name, TEXTS[7], folder)
        expected = load_runner(artifacts / name).encode([TEXTS[7]], pad_to_length=True)
        dtypes = {spec.name: spec.dtype for spec in read_manifest(artifacts / name).inputs}
        with np.load(spec["ids"]) as ids:
            assert spec["inputs"] == list(expected) == list(ids.files)
            for key in expected:
                assert ids[key].dtype == np.dtype(dtypes[key]) and ids[key].shape == (1, 32)
                np.testing.assert_array_equal(ids[key], expected[key])
        assert spec["app"].startswith(f"mobile_distill.targets.{name.split('-')[0]}.timing:")


def test_rounds_are_interleaved_across_models(monkeypatch, tmp_path):
    from mobile_distill.bench import measure

    seen = []

    def one_round(spec, timeout):
        seen.append(Path(spec["folder"]).name)
        return _round([1.0, 1.0, 1.0])

    monkeypatch.setattr(measure, "_one_round", one_round)
    folders = [(tmp_path / name, 32) for name in ("a", "b", "c")]
    plan = measure.TimingPlan(threads=(1,), runs=3, warmup=0, rounds=3)
    performances = measure.measure_models(folders, "text", plan)
    assert seen == ["a", "b", "c"] * 3 and [p.rounds for p in performances] == [3, 3, 3]


def _round(samples_ms, threads=1, peak=120.0, baseline=100.0) -> dict:
    """What one timing process writes for one thread count."""
    per_threads = {"threads": threads, "load_seconds": 0.01, "cold_seconds": 0.01, "seconds": 1.0,
                   "all_samples_ms": samples_ms, "samples_ms": samples_ms}
    return {"baseline_rss_mb": baseline, "peak_rss_mb": peak, "settings": "s", "packages": ["numpy"],
            "threads": [per_threads]}


@pytest.mark.parametrize("p50s,warned", [((2.0, 2.19), False), ((2.0, 2.21), True), ((2.0, 1.5), True),
                                         ((2.0, 2.0, 2.19), False)])
def test_a_model_whose_rounds_disagree_by_more_than_ten_percent_is_warned_about(p50s, warned):
    from mobile_distill.bench.measure import TimingPlan
    from mobile_distill.bench.rounds import merge_rounds

    performance = merge_rounds([_round([p50] * 5) for p50 in p50s], TimingPlan((1,), 5, 0, len(p50s)))
    assert performance.latency[0].round_spread == pytest.approx(max(p50s) / min(p50s) - 1)
    assert bool(performance.warnings) == warned
    if warned:
        assert performance.warnings[0].startswith(f"the p50s of its {len(p50s)} timing rounds differ by over 10%: "
                                                  f"at 1 thread(s) {min(p50s):.2f} to {max(p50s):.2f} ms "
                                                  f"(+{max(p50s) / min(p50s) - 1:.0%})")


def test_the_rounds_warning_reaches_bench_json_the_report_and_the_console(exported, monkeypatch, tmp_path, capsys):
    """Timing replaced by rounds that disagree by 20% for one model (the rest steady): the real bench flow must
    carry the warning to every place a reader looks."""
    from mobile_distill.bench import run as bench_run
    from mobile_distill.bench.report import print_verdicts
    from mobile_distill.bench.rounds import merge_rounds

    def measure_models(models, text, plan, timeout=1800, progress=None):
        unsteady = [Path(folder).name == "onnx-fp32-s32" for folder, _ in models]
        return [merge_rounds([_round([3.0] * 4), _round([3.6 if flag else 3.0] * 4)], plan) for flag in unsteady]

    monkeypatch.setattr(bench_run, "measure_models", measure_models)
    model, artifacts = exported
    report = run_bench([artifacts / "onnx-fp32-s32", artifacts / "tflite-fp32-s32"], TEXTS, LABELS, model, None,
                       FAST, Gate2Config(), seq_len=32)
    warnings = [w for w in report.warnings if "rounds" in w]
    assert len(warnings) == 1 and warnings[0].startswith("onnx-fp32-s32: the p50s of its 2 timing rounds differ by "
                                                         "over 10%: at 1 thread(s) 3.00 to 3.60 ms (+20%)")
    paths = write_reports(report, tmp_path)
    stored = json.loads(paths["json"].read_text())
    assert warnings[0] in stored["warnings"]
    entry = next(e for e in stored["models"] if e["name"] == "onnx-fp32-s32")
    assert entry["performance"]["warnings"] and entry["performance"]["latency"][0]["round_spread"] == pytest.approx(0.2)
    assert warnings[0] in paths["markdown"].read_text() and "3.00 to 3.60 ms (+20%)" in paths["html"].read_text()
    print_verdicts(report)
    assert "3.00 to 3.60 ms (+20%)" in capsys.readouterr().out.replace("\n", " ")


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
                 "--label-column", "sentiment", "--teacher", "none", "--threads", "1", "--runs", "2", "--rounds", "2",
                 "--min-duration", "0.05", "-o", str(out)])
    assert code == 0
    assert "PASS" in capsys.readouterr().out
    stored = json.loads((out / "bench.json").read_text())
    assert stored["models"][0]["path"] == str(model)  # the reference came from the manifest
    assert {key: stored["settings"][key] for key in ("runs", "rounds", "min_duration_s")} == \
        {"runs": 2, "rounds": 2, "min_duration_s": 0.05}
    assert [m["performance"]["latency"][0]["rounds"] for m in stored["models"]] == [2, 2]

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
