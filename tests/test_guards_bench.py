"""Guards on four release checks that no other test pins down: each test here turns red when its check
is switched off by a one-line change in the product code.

- gate 2's agreement floor (an artifact can keep its accuracy and still disagree with its reference);
- bench's attention-mask probe (the contract check that padding does not reach the artifact's logits);
- the TFLite fp16 export really storing float16 weights (not the fp32 file under an fp16 name);
- auto-fallback recording a converter's crash instead of losing the whole bench report;
- bench's model memory: the timing process's peak less its resident memory after the runtime's import, with
  an import's own transient peak not counted as the model's, and the model opened once.

Every artifact is a real export of a tiny planted model (tests/planted.py); faults are planted in the
exported file, or (for the crash) in the converter the export calls.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter

import numpy as np
import pytest

from mobile_distill import targets
from mobile_distill.bench import run_bench
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.export import ExportOptions, export
from mobile_distill.runners import load_runner

from . import planted
from .conftest import make_texts, save_tiny_model
from .planted import planted_texts, save_planted_model

SEQ_LEN = 32
TEXTS = planted_texts(120, seed=1)  # 4 to 14 words: every batch and the mask probe's texts have padding
TRAIN = planted_texts(64, seed=2)
NO_TIMING = BenchConfig(timing=False, diagnose=False)


def _predicted(folder, **kwargs) -> np.ndarray:
    return load_runner(folder, **kwargs).predict(TEXTS).argmax(-1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The reference, a healthy fp32 ONNX export of it, the same export with its attention mask ignored,
    and fp32 and int8 exports of another model of the same shape and vocabulary (a conversion whose
    predictions moved: its interface is healthy, its classes often differ from the reference's)."""
    import shutil

    root = tmp_path_factory.mktemp("guards")
    reference = save_planted_model(root / "reference", TEXTS, seed=0)
    other = save_planted_model(root / "other", TEXTS, seed=1)
    options = ExportOptions(seq_len=SEQ_LEN)
    artifacts = root / "artifacts"
    healthy = export(reference, "onnx", "fp32", artifacts / "healthy-onnx-fp32", options, TRAIN, TEXTS)
    leaky = shutil.copytree(healthy, artifacts / "mask-ignored-onnx-fp32")
    planted.ignore_onnx_mask(leaky)
    moved = export(other, "onnx", "fp32", artifacts / "moved-onnx-fp32", options, TRAIN, TEXTS)
    moved_int8 = export(other, "onnx", "int8-dynamic", root / "int8" / "moved-onnx-int8-dynamic", options, TRAIN, TEXTS)
    return dict(reference=reference, healthy=healthy, leaky=leaky, moved=moved, moved_int8=moved_int8)


@pytest.fixture(scope="module")
def same_accuracy_labels(exported):
    """Gold labels on which the reference and the moved artifact are exactly as accurate, while they
    disagree on many rows: where they agree the label is their class; the rows where they disagree are
    labelled the reference's class and the artifact's class in turn, so each is right on half of them.
    With an odd number of such rows the last one is dropped (one row is over 0.8 points here, over fp32's
    0.5-point budget). Returns (texts, labels)."""
    ours = _predicted(exported["reference"], seq_len=SEQ_LEN)  # as bench runs the reference
    theirs = _predicted(exported["moved"])
    labels = ours.copy()
    differ = np.flatnonzero(ours != theirs)
    labels[differ[1::2]] = theirs[differ[1::2]]
    keep = np.ones(len(TEXTS), bool)
    if len(differ) % 2:
        keep[differ[-1]] = False
    # the test means something only when the artifact disagrees far more than fp32's floor allows
    assert 10 <= len(differ) <= len(TEXTS) - 10, len(differ)
    return [text for text, kept in zip(TEXTS, keep) if kept], labels[keep]


@pytest.fixture(scope="module")
def bench(exported, same_accuracy_labels):
    """One bench run (real runners, real contract checks, real gate 2) over the three fp32 artifacts."""
    texts, labels = same_accuracy_labels
    report = run_bench([exported["healthy"], exported["leaky"], exported["moved"]], texts, labels,
                       exported["reference"], None, NO_TIMING, Gate2Config(), seq_len=SEQ_LEN)
    return {entry.name: entry for entry in report.models}


def test_gate2_fails_an_artifact_that_keeps_its_accuracy_but_disagrees_with_its_reference(bench):
    reference, moved = bench["pytorch reference"], bench["moved-onnx-fp32"]
    assert all(check.ok for check in moved.contract), [c.detail for c in moved.contract if not c.ok]
    # accuracy alone would pass it: not one point lost against the reference
    assert moved.scores.accuracy == reference.scores.accuracy
    floor = Gate2Config().min_agreement["fp32"]
    assert moved.scores.agreement_reference < floor - 0.05  # measured with the artifact's own runner
    assert moved.verdict.status == "FAIL"
    assert len(moved.verdict.reasons) == 1 and moved.verdict.reasons[0].startswith("agreement "), moved.verdict.reasons
    assert f"< {floor}" in moved.verdict.reasons[0]
    # the control: the reference's own export agrees and passes on the same labels
    assert bench["healthy-onnx-fp32"].verdict.status == "PASS", bench["healthy-onnx-fp32"].verdict.reasons


def test_bench_mask_probe_fails_an_artifact_whose_logits_move_with_the_padding(bench):
    leaky = bench["mask-ignored-onnx-fp32"]
    checks = {check.name: check for check in leaky.contract}
    assert not checks["attention mask"].ok and checks["attention mask"].detail.startswith("attention mask ignored: ")
    # the probe alone fails it: the file's other contract checks hold (only the graph's mask was cut)
    assert [name for name, check in checks.items() if not check.ok] == ["attention mask"]
    assert leaky.status == "contract-failed" and leaky.scores is None
    assert leaky.verdict.status == "FAIL"
    assert leaky.verdict.reasons == [f"contract: attention mask: {checks['attention mask'].detail}"]
    # the control: the same file before the mask was cut passes the probe
    assert next(c for c in bench["healthy-onnx-fp32"].contract if c.name == "attention mask").ok


def test_the_mask_probe_does_not_excuse_an_ignored_mask_as_rounding(exported, tmp_path, monkeypatch):
    """An int8 file's rounding may excuse padding moving its logits, but only while they stay nearer the
    masked reference than the unmasked one: with any movement counted as rounding, an int8 file that
    ignores its mask still fails the probe, and is named."""
    from mobile_distill.bench import contract

    leaky = export(exported["reference"], "onnx", "int8-dynamic", tmp_path / "leaky-int8", ExportOptions(seq_len=SEQ_LEN),
                   TRAIN, TEXTS)
    planted.ignore_onnx_mask(leaky)
    monkeypatch.setattr(contract, "NOISE_RATIO", 1e12)
    probe = sorted(TEXTS, key=len)[:contract.PROBE_TEXTS]
    check = contract._mask(load_runner(leaky), load_runner(exported["reference"], seq_len=SEQ_LEN), probe)
    assert not check.ok and check.detail.startswith("attention mask ignored: "), check.detail


def _tensor_dtypes(artifact) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of every tensor the .tflite file declares, read by the LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(artifact / "model.tflite")).get_tensor_details()
    return [(tuple(int(n) for n in d["shape"]), np.dtype(d["dtype"]).name) for d in details]


def test_tflite_fp16_export_stores_its_weights_as_float16(tmp_path):
    from transformers import AutoModelForSequenceClassification

    texts = [text for text, _ in make_texts(60, seed=11)]
    model = save_tiny_model(tmp_path / "student", model_type="distilbert", layers=1, hidden=64, seed=3)
    fp32 = export(model, "tflite", "fp32", tmp_path / "fp32", ExportOptions(seq_len=16), texts, texts[:20])
    fp16 = export(model, "tflite", "fp16", tmp_path / "fp16", ExportOptions(seq_len=16), texts, texts[:20])

    torch_model = AutoModelForSequenceClassification.from_pretrained(model)
    # the weights the file must hold in fp16: every Linear's matrix and the word-embedding table
    weights = [p for name, p in torch_model.named_parameters() if p.ndim == 2 and "position" not in name]
    expected = Counter(tuple(p.shape) for p in weights)
    stored = Counter(shape for shape, dtype in _tensor_dtypes(fp16) if dtype == "float16")
    assert expected <= stored, (expected, stored)
    assert not [shape for shape, dtype in _tensor_dtypes(fp32) if dtype == "float16"]
    # and the file is smaller by (most of) 2 bytes per such weight: the fp32 copies are gone, not kept beside
    values = sum(p.numel() for p in weights)
    saved = (fp32 / "model.tflite").stat().st_size - (fp16 / "model.tflite").stat().st_size
    assert saved >= 0.75 * 2 * values, (saved, values)


def _crash_when_keeping_layers_float(context, folder):
    """The ONNX converter, except that it crashes when asked to keep layers in float (as auto-fallback's
    re-exports do); plain exports, such as the float twin the layer ranking is made with, still work."""
    from mobile_distill.targets.onnx.export import export_onnx

    if context.options.keep_float:
        raise RuntimeError("quantizer crashed on nodes_to_exclude\nlong native traceback")
    return export_onnx(context, folder)


def test_auto_fallback_records_a_converter_crash_instead_of_losing_the_bench_report(exported, monkeypatch):
    crashing = dataclasses.replace(targets.TARGETS["onnx"], exporter=f"{__name__}:_crash_when_keeping_layers_float")
    monkeypatch.setitem(targets.TARGETS, "onnx", crashing)
    artifact = exported["moved_int8"]
    labels = _predicted(exported["reference"], seq_len=SEQ_LEN)
    report = run_bench([artifact], TEXTS, labels, exported["reference"], None,
                       NO_TIMING.model_copy(update={"auto_fallback": True}), Gate2Config(), seq_len=SEQ_LEN)
    entry = report.artifacts()[0]
    assert entry.verdict.status == "FAIL"  # an int8 artifact failing gate 2: what auto-fallback re-exports
    assert entry.fallback["attempts"] == [
        {"kept_float": 1, "error": "RuntimeError: quantizer crashed on nodes_to_exclude"}]
    assert entry.fallback["artifact"] is None and entry.fallback["ranking"]
    assert entry.verdict.reasons[-1].startswith("auto-fallback: no attempt passed (1 tried")
    assert report.verdict == "FAIL" and [e.name for e in report.artifacts()] == [artifact.name]
    assert not artifact.with_name(f"{artifact.name}-fallback").exists()  # the crashed export left nothing


BALLAST = """
import numpy as np

from mobile_distill.targets.base import AppModel

RUNTIME_MB, IMPORT_PEAK_MB, MODEL_MB = 48, 96, 32
_held = []


def _touched(mb):
    return np.ones(mb * 1_000_000, dtype=np.uint8)  # every page written: resident


class BallastApp(AppModel):
    settings = "ballast"

    @classmethod
    def import_runtime(cls):
        transient = _touched(IMPORT_PEAK_MB)  # an import that peaks, then lets go
        del transient
        _held.append(_touched(RUNTIME_MB))  # and a runtime that stays resident

    def __init__(self, model_path, threads, inputs, output):
        self.weights = _touched(MODEL_MB)
        _held.append(self.weights)  # kept after the model is closed, as a heap fragmented by a session stays

    def __call__(self, feeds):
        return np.zeros((1, 2), np.float32)
"""


def test_model_memory_is_the_peak_over_the_runtimes_own_resident_memory(exported, tmp_path, monkeypatch):
    """A stand-in runtime (imported: 48 MB kept, after a 96 MB peak) and model (32 MB once opened, not given back
    when closed) in place of onnxruntime, timed through bench's real timing process at two thread counts: the
    model's memory is its 32 MB opened once, not the runtime's, not the import's peak, not two opens'."""
    from mobile_distill.bench.measure import measure_performance

    (tmp_path / "ballast_app.py").write_text(BALLAST)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    monkeypatch.setitem(targets.TARGETS, "onnx", dataclasses.replace(targets.TARGETS["onnx"],
                                                                       timing="ballast_app:BallastApp"))
    performance = measure_performance(exported["healthy"], TEXTS[0], (1, 2), 3, 0, SEQ_LEN)
    assert performance.runtime_settings == "ballast"
    assert 32 - 1 <= performance.model_memory_mb <= 32 + 6, performance
    assert performance.model_memory_mb == pytest.approx(performance.peak_rss_mb - performance.baseline_rss_mb, abs=0.11)
    assert performance.baseline_rss_mb >= 48  # the runtime's resident memory is the baseline's, not the model's
    assert "torch" not in performance.process_packages


def test_the_onnx_runner_and_bench_timing_open_the_same_session(exported):
    """Latency is of the session accuracy came from: one function opens both."""
    from mobile_distill.targets.onnx.timing import OnnxApp

    healthy = exported["healthy"]
    runner = load_runner(healthy, threads=1).session.get_session_options()
    app = OnnxApp(healthy / "model.onnx", 1, ["input_ids", "attention_mask"], "logits").session.get_session_options()
    fields = ("enable_cpu_mem_arena", "enable_mem_pattern", "graph_optimization_level", "intra_op_num_threads",
              "inter_op_num_threads", "execution_mode")
    assert {f: getattr(runner, f) for f in fields} == {f: getattr(app, f) for f in fields}
