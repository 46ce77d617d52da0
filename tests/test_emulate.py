"""The aarch64 lane: real exported ONNX, TFLite and ExecuTorch files run by the aarch64 builds of their
runtimes under qemu, one emulated ARM CPU at a time, merged into gate 2 as devices of their own.

The planted fault is one only the phone's kernels show: an fp16 ONNX classifier whose Gemm sums
+4e4 + 4e4 - 4e4 - 4e4. onnxruntime's x86 build computes fp16 Gemms in fp32 (exact: 0); its aarch64
build computes them in fp16 on CPUs with fp16 arithmetic (Cortex-A76 on), which overflows. The same
file passes on x86 and on an ARMv8.0 Cortex-A53, and must fail on the Cortex-A76 alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from mobile_distill.bench import run_bench
from mobile_distill.bench.report import write_reports
from mobile_distill.bench.schema import BenchReport
from mobile_distill.cli import main
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.emulate import CPUS, get_cpus
from mobile_distill.emulate.lane import lane_feeds, sample_rows
from mobile_distill.emulate.process import WORKER
from mobile_distill.emulate.layers import kernel_family, relative_error
from mobile_distill.errors import ConfigError
from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest

from .planted import fp16_accumulation_trap, planted_texts, save_planted_model

TEXTS = planted_texts(160, seed=31)
TRAIN = planted_texts(64, seed=32)
HEALTHY = [("onnx", "int8-dynamic"), ("tflite", "int8-dynamic"), ("executorch", "fp32")]
LANE = BenchConfig(threads=(1,), timing=False, emulate=("cortex-a53", "cortex-a76"), emulate_rows=24)


@pytest.fixture(scope="session")
def arm64_lane():
    """The lane's toolchain: built by `make test`'s set-up (`mobile-distill emulate --setup`), else here."""
    from mobile_distill.emulate.toolchain import ensure_toolchain

    return ensure_toolchain()


def _decided(model: Path, margin: float) -> tuple[list[str], np.ndarray]:
    """Texts ``model`` decides by more than ``margin`` (a tie could flip on any build; int8 moves a tiny random
    model's logits by up to int8's parity tolerance, 0.75), with labels it gets about 85% right."""
    from mobile_distill.runners import load_runner

    logits = load_runner(model, seq_len=32).predict(TEXTS)
    decided = np.abs(logits[:, 1] - logits[:, 0]) > margin
    predicted = logits[decided].argmax(-1)
    flip = np.random.default_rng(0).random(len(predicted)) < 0.15
    return [t for t, keep in zip(TEXTS, decided) if keep], np.where(flip, 1 - predicted, predicted)


def _export(model: Path, pairs, folder: Path) -> list[Path]:
    for target, precision in pairs:
        export(model, target, precision, folder / f"{target}-{precision}-s32", ExportOptions(seq_len=32), TRAIN,
               TEXTS[:20])
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    """A tiny BERT exported to int8 ONNX and TFLite and fp32 ExecuTorch: nothing wrong on any CPU."""
    root = tmp_path_factory.mktemp("arm64-healthy")
    model = save_planted_model(root / "student", TEXTS, seed=5)
    return root, model, _export(model, HEALTHY, root / "artifacts"), *_decided(model, 0.75)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The fp16 trap planted in a tiny BERT, exported to ONNX fp16."""
    root = tmp_path_factory.mktemp("arm64-planted")
    model = fp16_accumulation_trap(save_planted_model(root / "student", TEXTS, seed=5), TEXTS)
    return root, model, _export(model, [("onnx", "fp16")], root / "artifacts"), *_decided(model, 0.05)


def _lane_bench(run, settings: BenchConfig = LANE) -> BenchReport:
    root, model, artifacts, texts, labels = run
    report = run_bench(artifacts, texts, labels, model, None, settings, Gate2Config(), seq_len=32,
                       calibration_texts=TRAIN)
    write_reports(report, root / "bench")
    return report


@pytest.fixture(scope="module")
def lane_report(healthy, arm64_lane):
    return _lane_bench(healthy)


@pytest.fixture(scope="module")
def planted_report(planted, arm64_lane):
    return _lane_bench(planted, LANE.model_copy(update={"auto_fallback": True}))


def _entries(report: BenchReport, artifact: str) -> dict:
    return {entry.device: entry for entry in report.artifacts() if entry.name.split(" @ ")[0] == artifact}


@pytest.mark.slow
def test_real_onnx_tflite_and_executorch_files_run_on_each_emulated_cpu_and_join_gate_2(lane_report):
    for target, precision in HEALTHY:
        runs = _entries(lane_report, f"{target}-{precision}-s32")
        assert set(runs) == {None, "arm64 (emulated, cortex-a53)", "arm64 (emulated, cortex-a76)"}
        for device, entry in runs.items():
            assert entry.verdict.status == "PASS", (entry.name, entry.verdict.reasons)
            if device is not None:  # the aarch64 build on the same ids: what the phone's kernels change
                assert entry.scores.rows == 24 and entry.scores.agreement_host == 1.0
                assert entry.scores.max_abs_logit_diff_host < 0.05
                assert entry.runtime["emulator"].startswith("qemu 10.") and entry.performance is None
    lane = {device["cpu"]: device for device in lane_report.devices if device.get("kind") == "emulated"}
    assert lane["cortex-a76"]["features"] and "asimdhp" in lane["cortex-a76"]["features"]
    assert "asimdhp" not in lane["cortex-a53"]["features"]


@pytest.mark.slow
def test_a_fault_only_the_phones_fp16_kernels_show_fails_gate_2_on_that_cpu_alone(planted_report, planted):
    runs = _entries(planted_report, "onnx-fp16-s32")
    assert runs[None].verdict.status == "PASS"  # x86: the fp16 Gemm is computed in fp32
    assert runs["arm64 (emulated, cortex-a53)"].verdict.status == "PASS"  # no fp16 arithmetic: fp32 too
    failed = runs["arm64 (emulated, cortex-a76)"]
    assert failed.verdict.status == "FAIL" and failed.verdict.reasons[0].startswith("on arm64 (emulated, cortex-a76): ")
    assert failed.scores.agreement_host < 0.5
    cause = failed.diagnosis["causes"][0]  # diagnose names the layer and the kernel family
    assert cause["code"] == "arm64-kernels" and cause["detail"]["module"] == "classifier"
    assert cause["detail"]["op_type"] == "Gemm" and "HGEMM" in cause["detail"]["kernel_family"]


@pytest.mark.slow
def test_auto_fallback_finds_a_file_that_passes_on_the_cpu_where_the_original_failed(planted_report, planted):
    failed = _entries(planted_report, "onnx-fp16-s32")["arm64 (emulated, cortex-a76)"]
    assert failed.fallback["kept_float"] == ["/model/classifier/Gemm"] and "auto-fallback" in failed.verdict.reasons[-1]
    fixed = _entries(planted_report, "onnx-fp16-s32-fallback")
    assert set(fixed) == {None, "arm64 (emulated, cortex-a76)"}  # judged where the original failed, and here
    assert fixed[None].replaces == "onnx-fp16-s32" and all(e.verdict.status == "PASS" for e in fixed.values())
    assert fixed["arm64 (emulated, cortex-a76)"].scores.agreement_reference == 1.0
    assert planted_report.verdict == "PASS"  # the fallback stands in for the file the phone would break
    cases = {case.get("name"): case for case in ElementTree.parse(planted[0] / "bench" / "junit.xml").iter("testcase")}
    assert cases["onnx-fp16-s32 @ arm64 (emulated, cortex-a76)"].find("skipped") is not None
    assert cases["onnx-fp16-s32-fallback @ arm64 (emulated, cortex-a76)"].find("failure") is None


@pytest.mark.slow
def test_the_cli_runs_the_lane_and_exits_1_naming_the_cpu(planted, arm64_lane, tmp_path, capsys):
    root, model, _, texts, labels = planted
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f'"{text}",{["negative", "positive"][label]}\n'
                                               for text, label in zip(texts * 3, list(labels) * 3)))
    code = main(["bench", str(root / "artifacts" / "onnx-fp16-s32"), "--reference", str(model), "--data", str(data),
                 "--teacher", "none", "--no-timing", "--no-diagnose", "--emulate", "cortex-a76", "--emulate-rows", "12",
                 "-o", str(tmp_path / "bench"), "-q"])
    assert code == 1
    assert "onnx-fp16-s32 @ arm64 (emulated, cortex-a76)" in capsys.readouterr().err
    report = BenchReport.model_validate_json((tmp_path / "bench" / "bench.json").read_text())
    assert "agreement x86" in (tmp_path / "bench" / "report.md").read_text()
    assert [d["rows"] for d in report.devices] == [12]


@pytest.mark.slow
def test_each_emulated_cpu_offers_the_features_its_entry_names(arm64_lane):
    from concurrent.futures import ThreadPoolExecutor

    from mobile_distill.emulate.process import cpu_report

    with ThreadPoolExecutor(len(CPUS)) as pool:
        reports = dict(zip(CPUS.values(), pool.map(lambda cpu: cpu_report(arm64_lane, cpu), CPUS.values())))
    for cpu, seen in reports.items():
        assert seen["machine"] == "aarch64" and set(cpu.features) <= set(seen["features"]), (cpu.name, seen)
        assert seen["versions"] == {k: v for k, v in arm64_lane.versions.items() if k in seen["versions"]}
        assert set(seen["versions"]) == {"numpy", "onnxruntime", "ai-edge-litert", "executorch"}


@pytest.mark.slow
def test_the_executorch_bridge_gives_the_python_bindings_logits(healthy, tmp_path):
    """The bridge the lane cross-compiles, built here for x86 against this host's executorch: the worker's
    ExecuTorch path through it equals the toolkit's runner (the Python bindings) bit for bit."""
    from importlib.util import find_spec

    from mobile_distill.emulate.toolchain import compile_bridge
    from mobile_distill.runners import load_runner

    package = Path(find_spec("executorch").submodule_search_locations[0])  # a namespace package: no __file__
    bridge = compile_bridge("g++", package, tmp_path / "libmd_et.so")
    # int8 too: its embedding tables run on the quantized kernel library's embedding_byte, which the bridge links
    int8 = export(healthy[1], "executorch", "int8-dynamic", tmp_path / "executorch-int8-dynamic-s32",
                  ExportOptions(seq_len=32), TRAIN, TEXTS[:20])
    assert read_manifest(int8).quantization["quantized_embeddings"] > 0
    for folder in (healthy[0] / "artifacts" / "executorch-fp32-s32", int8):
        feeds, host_logits, step = lane_feeds(folder, healthy[3][:12])
        np.savez(tmp_path / "ids.npz", **feeds)
        done = subprocess.run([sys.executable, str(WORKER), "run", str(folder), str(tmp_path / "ids.npz"),
                               str(tmp_path / "out.npz"), "--step", str(step), "--bridge", str(bridge)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        logits = np.load(tmp_path / "out.npz")["logits"]
        assert np.array_equal(logits, load_runner(folder, threads=1).predict(healthy[3][:12]))
        assert np.array_equal(logits, host_logits)


@pytest.mark.slow
def test_the_apps_java_core_on_the_phones_kernels_catches_the_fault(planted, arm64_lane, tmp_path):
    """Both halves of a phone in one run: the app's Java tokenizer, binding and benchmark (the JVM harness)
    feeding the aarch64 worker on an emulated Cortex-A76; its results merged into gate 2."""
    from mobile_distill.device import Sample, app_bundle

    from .android import compile_core

    root, model, artifacts, texts, labels = planted
    artifacts = [*artifacts, root / "artifacts" / "onnx-fp32-s32"]
    export(model, "onnx", "fp32", artifacts[-1], ExportOptions(seq_len=32), TRAIN, TEXTS[:20])
    bench = run_bench(artifacts, texts, labels, model, None, BenchConfig(threads=(1,), timing=False), Gate2Config(),
                      seq_len=32)
    write_reports(bench, tmp_path / "bench")
    app_bundle(artifacts, tmp_path / "assets", Sample(texts[:24], labels[:24].tolist(), ["negative", "positive"], {}),
               model)
    classes = compile_core()
    results = tmp_path / "results.json"
    harness = "dev.mobiledistill.core.host.HostBenchmark"
    done = subprocess.run(["java", "-cp", f"{classes}:/usr/share/java/gson.jar", harness,
                           "--bundle", str(tmp_path / "assets"), "--out", str(results), "--runs", "1", "--warmup", "0",
                           "--python", sys.executable, "--emulate", "cortex-a76"], capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = json.loads(results.read_text())
    assert {model["runtime"]["name"] for model in payload["models"]} == {"onnxruntime"}
    assert main(["report", str(tmp_path / "bench"), "--device-results", str(results)]) == 1
    report = BenchReport.model_validate_json((tmp_path / "bench" / "bench.json").read_text())
    verdicts = {entry.name.split(" (Linux")[0]: entry.verdict.status for entry in report.artifacts()}
    device = "JVM host with an arm64 worker (emulated, cortex-a76)"
    assert verdicts[f"onnx-fp16-s32 @ {device}"] == "FAIL" and verdicts["onnx-fp16-s32"] == "PASS"
    assert verdicts[f"onnx-fp32-s32 @ {device}"] == "PASS"  # the same model in fp32 is fine on that CPU


# --- no emulation needed -------------------------------------------------------------------------------------


def test_the_worker_reads_tflite_through_the_exporters_signature():
    from mobile_distill.emulate import worker
    from mobile_distill.targets.tflite.target import SIGNATURE

    assert worker.TFLITE_SIGNATURE == SIGNATURE


def test_an_unknown_cpu_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", str(tmp_path), "--emulate", "cortex-x9"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--emulate" in error and "cortex-a53" in error
    with pytest.raises(ConfigError, match="cortex-a76"):
        get_cpus(["cortex-a76", "snapdragon"])
    assert [cpu.name for cpu in get_cpus(["all"])] == list(CPUS)


def test_a_lane_not_set_up_says_how_to_set_it_up(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOBILE_DISTILL_ARM64_CACHE", str(tmp_path / "empty"))
    assert main(["emulate", "--info"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "mobile-distill emulate --setup" in error


def test_the_sample_is_seeded_and_the_same_for_every_artifact():
    assert np.array_equal(sample_rows(854, 100), sample_rows(854, 100))
    assert len(set(sample_rows(854, 100))) == 100 and list(sample_rows(5, 100)) == [0, 1, 2, 3, 4]


def test_a_departure_is_non_finite_values_where_x86_has_finite_ones():
    reference = np.ones((2, 3))
    assert relative_error(reference * 1.01, reference) == pytest.approx(0.01)
    assert relative_error(np.full((2, 3), np.inf), reference) == float("inf")
    assert relative_error(np.full((2, 3), np.inf), np.full((2, 3), np.inf)) == 0.0


def test_the_fp16_gemm_family_is_named_only_on_cpus_with_fp16_arithmetic():
    assert "HGEMM" in kernel_family("onnx", "Gemm", "fp16", CPUS["cortex-a76"])
    assert "HGEMM" not in kernel_family("onnx", "Gemm", "fp16", CPUS["cortex-a53"])
    assert "SME" in kernel_family("tflite", "FULLY_CONNECTED", "int8-dynamic", CPUS["armv9-sme"])


def test_the_cached_wheels_follow_the_hosts_runtime_versions():
    """A host that upgrades a runtime gets the same release on the aarch64 side, never a stale cached one."""
    from mobile_distill.emulate.toolchain import _part_names, host_versions

    now = host_versions()
    upgraded = {**now, "onnxruntime": now["onnxruntime"] + ".post1"}
    assert _part_names(upgraded)["site"] != _part_names(now)["site"]
    assert _part_names(upgraded)["rootfs"] == _part_names(now)["rootfs"]
    assert _part_names({**now, "executorch": "0.0"})["bridge"] != _part_names(now)["bridge"]
