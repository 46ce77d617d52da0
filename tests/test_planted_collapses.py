"""Each known cause of post-conversion collapse, planted in a real exported artifact: the test first
shows the collapse is real (agreement below gate 2's floor, run through the artifact's own
runtime), then that `diagnose` names that cause first and says which input, setting or layer.
Healthy ONNX and TFLite artifacts are the negative control: no cause, every check clear or skipped."""

import json

import numpy as np
import pytest

from mobile_distill.bench import run_bench
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.diagnose import CODES, diagnose, layer_sensitivity
from mobile_distill.errors import ConfigError, ModelError
from mobile_distill.export import ExportOptions, export
from mobile_distill.export.artifact import read_manifest
from mobile_distill.runners import load_runner

from . import planted
from .planted import planted_texts, save_planted_model

SEQ_LEN = 32
REFERENCE_LEN = 64  # the tiny models' max_position_embeddings
TEXTS = planted_texts(96, seed=1)
TRAIN = planted_texts(64, seed=2)
NO_TIMING = BenchConfig(timing=False, diagnose=True)


def _gate_fails(agreement: float, precision: str) -> bool:
    """Gate 2's agreement floor for ``precision`` (the whole gate runs in `_first_cause`)."""
    return agreement < Gate2Config().min_agreement[precision]


def _reference(model) -> np.ndarray:
    return load_runner(model, seq_len=REFERENCE_LEN).predict(TEXTS)


def _agreement(model, artifact) -> float:
    return planted.agreement(load_runner(artifact).predict(TEXTS), _reference(model))


def _text_dependent(model):
    """Agreement only means something if the reference predicts both classes."""
    predictions = _reference(model).argmax(-1)
    assert 0.2 <= predictions.mean() <= 0.8, f"reference predicts class 1 on {predictions.mean():.0%} of texts"
    return model


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _text_dependent(save_planted_model(tmp_path_factory.mktemp("plain"), TRAIN))


def _plant(model, folder, mutate):
    """Export, check the export is healthy, plant the fault, check the artifact now fails the gate."""
    artifact = export(model, "onnx", "fp32", folder, ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    assert _agreement(model, artifact) == 1.0
    mutate(artifact)
    collapsed = _agreement(model, artifact)
    assert _gate_fails(collapsed, "fp32"), f"the planted fault left agreement at {collapsed}"
    return artifact


def _first_cause(artifact, model, code):
    result = diagnose(artifact, model, TEXTS)
    assert _gate_fails(result.agreement, result.precision)
    assert result.causes, [check.summary for check in result.checks]
    assert result.causes[0].code == code, [cause.summary for cause in result.causes]
    json.dumps(result.to_dict(), allow_nan=False)
    _bench_fails_and_names(artifact, model, code)
    return result.causes[0]


def _bench_fails_and_names(artifact, model, code):
    """The real gate: bench FAILs the artifact and its report carries the diagnosis naming ``code``."""
    labels = _reference(model).argmax(-1)  # the reference is right by definition: accuracy = agreement
    report = run_bench([artifact], TEXTS, labels, model, None, NO_TIMING, Gate2Config(), seq_len=REFERENCE_LEN)
    entry = report.artifacts()[0]
    assert report.verdict == "FAIL" and entry.verdict.status == "FAIL", entry.verdict
    assert entry.diagnosis["causes"][0]["code"] == code


def test_swapped_inputs_are_named(plain, tmp_path):
    artifact = _plant(plain, tmp_path / "swapped", planted.swap_onnx_inputs)
    cause = _first_cause(artifact, plain, "input-binding")
    assert "feeding attention_mask's data to input 'input_ids'" in cause.summary
    assert "input_ids's data to input 'attention_mask'" in cause.summary
    assert cause.confirmed and cause.after == 1.0
    assert cause.detail["binding"] == {"input_ids": "attention_mask", "attention_mask": "input_ids",
                                       "token_type_ids": "token_type_ids"}


@pytest.mark.parametrize("mutate,code,words", [
    (planted.rename_onnx_inputs, "input-binding",
     "inputs bound by the wrong name: the model file's inputs are ['args_0', 'args_1', 'args_2']"),
    (planted.declare_int32, "id-dtype",
     "inputs input_ids, attention_mask, token_type_ids are declared int32 in the manifest but the model file takes int64"),
])
def test_feeds_the_runtime_refuses_are_named(plain, tmp_path, mutate, code, words):
    artifact = export(plain, "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    mutate(artifact)
    with pytest.raises(Exception):  # the collapse: the runtime refuses every feed, so nothing can pass a gate
        load_runner(artifact).predict(TEXTS)
    result = diagnose(artifact, plain, TEXTS)
    assert result.agreement is None and result.causes[0].code == code
    assert words in result.causes[0].summary and result.causes[0].after == 1.0


def test_ignored_mask_is_named(plain, tmp_path):
    artifact = _plant(plain, tmp_path / "unmasked", planted.ignore_onnx_mask)
    cause = _first_cause(artifact, plain, "mask-ignored")
    assert "ignores attention_mask" in cause.summary and "do not change" in cause.summary
    assert cause.after == 1.0 and cause.detail["artifact_change_when_unmasked"] == 0.0


def test_ids_wrapped_to_8_bits_are_named(plain, tmp_path):
    tokenizer = load_runner(plain, seq_len=REFERENCE_LEN).tokenizer
    assert max(max(ids) for ids in tokenizer(TEXTS)["input_ids"]) >= 256  # the wrap has ids to change
    artifact = _plant(plain, tmp_path / "wrapped", planted.wrap_onnx_ids)
    cause = _first_cause(artifact, plain, "id-range")
    assert "wrapped to 8 bits (uint8)" in cause.summary and "ids mod 256" in cause.summary
    assert cause.after == 1.0


def test_lower_casing_mismatch_is_named(plain, tmp_path):
    assert sum(text != text.lower() for text in TEXTS) >= len(TEXTS) // 3
    artifact = _plant(plain, tmp_path / "cased", planted.stop_lower_casing)
    cause = _first_cause(artifact, plain, "tokenizer-mismatch")
    assert "does not lower-case (the reference's does)" in cause.summary
    assert cause.detail["settings_differ"]["normalizer.lowercase"] == [True, False]
    assert cause.detail["texts_differ"] > 0 and cause.detail["edited_since_export"] is True
    assert cause.after == 1.0


def test_cut_texts_are_named(plain, tmp_path):
    """No mutation: an artifact exported for 8 tokens reads the start of texts the reference reads whole."""
    artifact = export(plain, "onnx", "fp32", tmp_path / "short", ExportOptions(seq_len=8), TRAIN, TEXTS[:8])
    assert _gate_fails(_agreement(plain, artifact), "fp32")
    cause = _first_cause(artifact, plain, "padding-length")
    assert "the artifact reads 8 tokens, the reference up to 64" in cause.summary
    assert cause.detail["disagreements_in_cut"] == cause.detail["disagreements"] > 0
    assert cause.after == 1.0


def test_fp16_overflow_is_named(tmp_path):
    model = _text_dependent(save_planted_model(tmp_path / "hot", TRAIN, mutate=planted.overflow_fp16))
    assert np.isfinite(_reference(model)).all()  # fp32 is fine: the LayerNorm absorbs the scale
    artifact = export(model, "onnx", "fp16", tmp_path / "fp16", ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    exported = load_runner(artifact).predict(TEXTS)
    assert not np.isfinite(exported).all(), "the fp16 artifact did not overflow"
    assert _gate_fails(planted.agreement(exported, _reference(model)), "fp16")
    cause = _first_cause(artifact, model, "fp16-overflow")
    assert f"the output of {planted.FP16_LAYER} reaches" in cause.summary and "65504" in cause.summary
    assert cause.detail["nonfinite_rows"] > 0


def test_destructive_quantization_layer_is_named(tmp_path):
    model = _text_dependent(save_planted_model(tmp_path / "outlier", TRAIN, mutate=planted.outlier_weight))
    per_tensor = ExportOptions(seq_len=SEQ_LEN, per_channel=False)
    artifact = export(model, "onnx", "int8-dynamic", tmp_path / "int8", per_tensor, TRAIN, TEXTS[:8])
    collapsed = _agreement(model, artifact)
    assert _gate_fails(collapsed, "int8-dynamic")
    cause = _first_cause(artifact, model, "quantization-layer")
    node = "/model/bert/encoder/layer.0/intermediate/dense/MatMul"  # planted.OUTLIER_LAYER, as ONNX names it
    assert f"breaks at node '{node}'" in cause.summary and planted.OUTLIER_LAYER in cause.summary
    ranking = layer_sensitivity(artifact, model, TEXTS[:16])
    assert ranking[0].node == node and ranking[0].error > 0.5
    # The ranking names nodes as quantize_dynamic knows them: keeping that one in float undoes most of
    # the collapse (what is left is per-tensor int8 noise on a 16-wide model).
    repaired = _requantized(model, artifact, tmp_path, exclude=[node])
    assert _agreement(model, repaired) >= max(0.9, collapsed + 0.3)


def _bench_with_fallback(model, artifact):
    """bench --auto-fallback on ``artifact``: it FAILs, its fallback PASSes and stands in for it in the verdict."""
    labels = _reference(model).argmax(-1)
    settings = BenchConfig(timing=False, diagnose=False, auto_fallback=True)
    report = run_bench([artifact], TEXTS, labels, model, None, settings, Gate2Config(), seq_len=REFERENCE_LEN,
                       calibration_texts=TRAIN)
    original, replacement = report.artifacts()
    assert original.verdict.status == "FAIL" and replacement.verdict.status == "PASS" and report.verdict == "PASS"
    return original, replacement


def test_auto_fallback_keeps_the_sensitive_layers_float_until_gate_2_passes(tmp_path):
    model = _text_dependent(save_planted_model(tmp_path / "outlier", TRAIN, mutate=planted.outlier_weight))
    per_tensor = ExportOptions(seq_len=SEQ_LEN, per_channel=False)
    artifact = export(model, "onnx", "int8-dynamic", tmp_path / "int8", per_tensor, TRAIN, TEXTS[:8])
    original, replacement = _bench_with_fallback(model, artifact)
    assert replacement.name == "int8-fallback" and replacement.replaces == "int8"
    kept = original.fallback["kept_float"]
    assert kept[0] == "/model/bert/encoder/layer.0/intermediate/dense/MatMul"  # the planted outlier first
    assert read_manifest(tmp_path / "int8-fallback").quantization["kept_float"] == kept
    assert [a["verdict"] for a in original.fallback["attempts"]][-1] == "PASS"
    assert "auto-fallback: int8-fallback passes with" in original.verdict.reasons[-1]


def test_destructive_tflite_quantization_layer_is_named_and_auto_fallback_repairs_it(tmp_path):
    model = _text_dependent(save_planted_model(tmp_path / "outlier", TRAIN, mutate=planted.outlier_every_row))
    artifact = export(model, "tflite", "int8-dynamic", tmp_path / "int8", ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    assert _gate_fails(_agreement(model, artifact), "int8-dynamic")
    cause = _first_cause(artifact, model, "quantization-layer")
    assert "FULLY_CONNECTED" in cause.summary and planted.ROW_OUTLIER_LAYER in cause.summary
    original, replacement = _bench_with_fallback(model, artifact)
    worst = original.fallback["ranking"][0]  # layer_sensitivity's ranking
    assert worst["module"] == planted.ROW_OUTLIER_LAYER and worst["error"] > 0.5
    kept = original.fallback["kept_float"]
    assert kept[0] == worst["node"]  # the output tensor name, which ai-edge-quantizer's recipe scopes match
    assert read_manifest(tmp_path / "int8-fallback").quantization["kept_float"] == kept
    assert f"({planted.ROW_OUTLIER_LAYER}" in original.verdict.reasons[-1]  # the note names modules, not scopes


@pytest.mark.parametrize("target,kind", [("onnx", "node"), ("tflite", "tensor")])
def test_keep_float_rejects_an_unknown_name(plain, tmp_path, target, kind):
    """The quantizers skip unknown names silently: a typo would quantize every layer."""
    options = ExportOptions(seq_len=SEQ_LEN, keep_float=("no/such/layer",))
    message = _one_line(lambda: export(plain, target, "int8-dynamic", tmp_path / "x", options, TRAIN, TEXTS[:8]),
                        ConfigError)
    assert f"keep_float: 'no/such/layer' is not a {kind} of this" in message
    assert not (tmp_path / "x").exists()


def _requantized(model, artifact, tmp_path, exclude: list[str]):
    """The artifact's int8 model exported again with ``exclude`` kept in float."""
    import onnx

    options = ExportOptions(seq_len=SEQ_LEN, per_channel=False, keep_float=tuple(exclude))
    repaired = export(model, "onnx", "int8-dynamic", tmp_path / "repaired", options, TRAIN, TEXTS[:8])
    kept = {n.name: n.op_type for n in onnx.load(str(repaired / "model.onnx")).graph.node if n.name in exclude}
    assert kept == dict.fromkeys(exclude, "MatMul")
    return repaired


@pytest.mark.parametrize("target", ["onnx", "tflite"])
def test_healthy_artifacts_have_no_cause(plain, tmp_path, target):
    artifact = export(plain, target, "fp32", tmp_path / target, ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    result = diagnose(artifact, plain, TEXTS, labels=[i % 2 for i in range(len(TEXTS))])
    assert result.agreement == 1.0 and not _gate_fails(result.agreement, "fp32")
    assert result.causes == []
    assert {check.name: check.status for check in result.checks if check.status not in ("clear", "skipped")} == {}
    assert not [check.summary for check in result.checks if "could not run" in check.summary]
    statuses = {check.name: check.status for check in result.checks}
    assert statuses["input-binding"] == statuses["attention-mask"] == statuses["tokenizer"] == "clear"
    assert set(result.accuracy) == {"artifact", "reference"} and not result.notes
    layers = next(check for check in result.checks if check.name == "layers")
    assert "not quantized" in layers.summary
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["causes"] == []


def test_every_cause_code_is_explained_in_the_module_docstring():
    import mobile_distill.diagnose as diagnosis

    assert [code for code in CODES if code not in diagnosis.__doc__] == []


def _one_line(call, error_type) -> str:
    with pytest.raises(error_type) as raised:
        call()
    assert "\n" not in str(raised.value)
    return str(raised.value)


def test_bad_input_gets_one_line_errors(plain, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"{empty}: not an artifact folder" in _one_line(lambda: diagnose(empty, plain, TEXTS), ModelError)
    assert f"{plain}: not an artifact folder" in _one_line(lambda: diagnose(plain, plain, TEXTS), ModelError)
    assert f"{empty}: not an artifact folder" in _one_line(lambda: layer_sensitivity(empty, plain, TEXTS), ModelError)
    artifact = export(plain, "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    assert f"{empty}: not a Hugging Face model folder" in _one_line(lambda: diagnose(artifact, empty, TEXTS), ModelError)
    assert "no texts" in _one_line(lambda: diagnose(artifact, plain, []), ConfigError)
    assert "1 labels for 96 texts" in _one_line(lambda: diagnose(artifact, plain, TEXTS, labels=[0]), ConfigError)
