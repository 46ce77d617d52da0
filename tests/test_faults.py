"""Faults nobody planted in diagnose's catalogue, put into real exported files of ONNX, TFLite and
ExecuTorch: a weight set to NaN, a broken attention, a model file replaced by another model's file
with the same interface, a tokenizer setting that only the contract check sees. Gate 2 FAILs each,
and diagnose's first cause names it by localisation (the module, the non-finite origin, the file's
hash, the setting), not by a counterfactual it was taught. Healthy files of every target get no
cause. And bad input that used to end in a traceback, or destroyed an artifact, gives one line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mobile_distill.bench import run_bench
from mobile_distill.cli import main
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.export import ExportOptions, export
from mobile_distill.hashing import content_sha256
from mobile_distill.runners import load_runner

from . import planted
from .planted import planted_texts, reseal, save_planted_model

TARGETS = ("onnx", "tflite", "executorch")
SEQ_LEN = 32
TEXTS = planted_texts(96, seed=1)
TRAIN = planted_texts(64, seed=2)
VALUE = "bert.encoder.layer.1.attention.self.value.weight"
ATTENTION_OUT = "bert.encoder.layer.0.attention.output.dense.weight"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    return save_planted_model(root / "reference", TRAIN), save_planted_model(root / "impostor", TRAIN, seed=7)


@pytest.fixture(scope="module")
def healthy(models, tmp_path_factory):
    """One healthy fp32 artifact per target, of the reference and of another model with its interface."""
    reference, impostor = models
    root = tmp_path_factory.mktemp("healthy")
    made = {}
    for target in TARGETS:
        for name, model in (("reference", reference), ("impostor", impostor)):
            # ONNX plain: the faults are planted in named operators (one Q/K/V weight, a Softmax) that the fused
            # graph merges into its Attention operator
            made[target, name] = export(model, target, "fp32", root / f"{name}-{target}",
                                        ExportOptions(seq_len=SEQ_LEN, onnx_graph="plain"),
                                        TRAIN, TRAIN)
    return made


def _weight(model, name: str) -> np.ndarray:
    from safetensors.numpy import load_file

    return load_file(str(model / "model.safetensors"))[name].astype("<f4")


def _rewrite_weight(artifact, weight: np.ndarray, change) -> None:
    """Find a reference weight's rows in the model file (as stored, or transposed as ONNX's MatMul
    keeps it) and write ``change(weight)``'s rows in their place: the file stays valid, one tensor
    differs. Resealed: this stands for a file the exporter itself wrote wrong."""
    path = artifact / json.loads((artifact / "manifest.json").read_text())["model_file"]
    data = bytearray(path.read_bytes())
    changed = change(weight.copy()).astype("<f4")
    for old, new in ((weight, changed), (weight.T.copy(), changed.T.copy())):
        places = [data.find(row.tobytes()) for row in old]
        if all(place >= 0 for place in places):
            for place, row in zip(places, new):
                data[place:place + row.nbytes] = row.tobytes()
            path.write_bytes(bytes(data))
            return reseal(artifact)
    raise AssertionError(f"{path.name} does not hold the weight's rows byte for byte")


def _nan(weight: np.ndarray) -> np.ndarray:
    weight[3, 2] = np.nan
    return weight


def _scrambled(weight: np.ndarray) -> np.ndarray:
    return -weight[::-1] * 3  # the attention output projection's rows reversed and scaled


@pytest.fixture(scope="module")
def faulty(models, healthy, tmp_path_factory):
    """name -> (artifact folder, the cause code diagnose must name first, words its summary must hold)."""
    reference, _ = models
    root = tmp_path_factory.mktemp("faulty")
    cases = {}
    for target in TARGETS:
        nan = shutil.copytree(healthy[target, "reference"], root / f"{target}-nan")
        _rewrite_weight(nan, _weight(reference, VALUE), _nan)
        cases[f"{target}-nan"] = (nan, "non-finite", "bert.encoder.layer.1.attention.self.value")
        attention = shutil.copytree(healthy[target, "reference"], root / f"{target}-attention")
        _rewrite_weight(attention, _weight(reference, ATTENTION_OUT), _scrambled)
        cases[f"{target}-attention"] = (attention, "module-departure", "bert.encoder.layer.0.attention.output.dense")
        replaced = shutil.copytree(healthy[target, "reference"], root / f"{target}-replaced")
        model_file = json.loads((replaced / "manifest.json").read_text())["model_file"]
        shutil.copyfile(healthy[target, "impostor"] / model_file, replaced / model_file)  # the manifest untouched
        cases[f"{target}-replaced"] = (replaced, "file-modified", "is not the file the export wrote")
    softmax = shutil.copytree(healthy["onnx", "reference"], root / "onnx-softmax")
    _softmax_over_queries(softmax)
    cases["onnx-softmax"] = (softmax, "module-departure", "bert.encoder.layer.0.attention.self")
    truncation = shutil.copytree(healthy["onnx", "reference"], root / "onnx-truncation")
    planted._edit_json(truncation / "tokenizer_config.json", lambda config: config.update(truncation_side="left"))
    cases["onnx-truncation"] = (truncation, "tokenizer-mismatch", "truncation_side")
    return cases


def _softmax_over_queries(artifact) -> None:
    """An edit inside the fp32 graph: layer 0's attention Softmax normalises over the queries instead of
    the keys. The mask still hides padded keys, yet padded query rows now share every column's
    normalisation: padding reaches the logits without the mask being ignored."""
    import onnx
    from onnx import helper

    model = onnx.load(str(artifact / "model.onnx"))
    softmax = next(node for node in model.graph.node if node.op_type == "Softmax" and "layer.0" in node.name)
    del softmax.attribute[:]
    softmax.attribute.append(helper.make_attribute("axis", 2))
    planted._save(model, artifact)


@pytest.fixture(scope="module")
def benched(models, healthy, faulty):
    reference, _ = models
    labels = load_runner(reference, seq_len=SEQ_LEN).predict(TEXTS).argmax(-1)
    artifacts = [folder for folder, _, _ in faulty.values()] + [healthy[t, "reference"] for t in TARGETS]
    settings = BenchConfig(threads=(1,), timing=False, diagnose=True)
    report = run_bench(artifacts, TEXTS, labels, reference, None, settings, Gate2Config(), seq_len=SEQ_LEN)
    return {entry.name: entry for entry in report.artifacts()}


@pytest.mark.parametrize("case", [f"{target}-{fault}" for fault in ("nan", "attention", "replaced") for target in TARGETS]
                         + ["onnx-softmax", "onnx-truncation"])
def test_gate2_fails_each_fault_and_diagnose_names_where_it_is(benched, faulty, case):
    folder, code, words = faulty[case]
    entry = benched[folder.name]
    assert entry.verdict.status == "FAIL", entry.verdict.reasons
    first = entry.diagnosis["causes"][0]
    assert (first["code"], words in first["summary"]) == (code, True), entry.diagnosis["causes"]
    # no probe gives a name it did not confirm: a NaN or a broken attention is not "the mask ignored"
    assert not any("attention mask ignored" in reason for reason in entry.verdict.reasons)
    assert {cause["code"] for cause in entry.diagnosis["causes"]} <= {code, "non-finite", "module-departure"}
    assert not [check for check in entry.diagnosis["checks"] if check["status"] == "crashed"]


def test_a_nan_weight_is_traced_to_the_operation_that_reads_it(benched, faulty):
    for target in ("onnx", "tflite"):
        causes = benched[faulty[f"{target}-nan"][0].name].diagnosis["causes"]
        non_finite = next(cause for cause in causes if cause["code"] == "non-finite")
        assert "reads a weight that holds NaN or inf" in non_finite["summary"]
        assert non_finite["detail"]["module"] == "bert.encoder.layer.1.attention.self.value"
        # the mask probe cannot measure NaN logits: it says so rather than name a leak or its absence
        reasons = benched[faulty[f"{target}-nan"][0].name].verdict.reasons
        assert any(reason.startswith("contract: attention mask: inconclusive: the artifact's logits are not finite")
                   for reason in reasons), reasons
    executorch = benched[faulty["executorch-nan"][0].name].diagnosis["causes"][0]
    assert executorch["detail"]["differing"] == [3] and executorch["detail"]["non_finite"] == 1


def test_padding_that_leaks_through_a_broken_attention_is_not_called_an_ignored_mask(benched, faulty):
    reasons = benched[faulty["onnx-softmax"][0].name].verdict.reasons
    mask = [reason for reason in reasons if reason.startswith("contract: attention mask")]
    assert mask and "padding leaks into the logits, cause inconclusive" in mask[0], reasons


@pytest.mark.parametrize("target", TARGETS)
def test_healthy_files_pass_and_get_no_cause(benched, healthy, target):
    entry = benched[healthy[target, "reference"].name]
    assert entry.verdict.status == "PASS"
    from mobile_distill.diagnose import diagnose

    diagnosis = diagnose(healthy[target, "reference"], _reference_of(healthy[target, "reference"]), TEXTS)
    assert diagnosis.causes == []
    statuses = {check.name: check.status for check in diagnosis.checks}
    assert statuses["file"] == "clear" and "crashed" not in statuses.values()
    traced = {"onnx": "departure", "tflite": "departure", "executorch": "weights"}[target]
    assert statuses[traced] == "clear"  # it compared, and found the file faithful


def _reference_of(artifact):
    return Path(json.loads((artifact / "manifest.json").read_text())["source"]["path"])


def test_a_model_file_its_runtime_cannot_load_is_a_fail_naming_the_file(healthy, tmp_path, capsys):
    truncated = shutil.copytree(healthy["onnx", "reference"], tmp_path / "truncated")
    data = (truncated / "model.onnx").read_bytes()
    (truncated / "model.onnx").write_bytes(data[: len(data) // 3])
    reseal(truncated)  # the hash matches: what is left to say is the runtime's own reason
    data_file = tmp_path / "data.csv"
    labels = load_runner(_reference_of(truncated), seq_len=SEQ_LEN).predict(TEXTS[:24]).argmax(-1)
    data_file.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in zip(TEXTS[:24], labels)))
    code = main(["bench", str(truncated), "--data", str(data_file), "--teacher", "none", "--no-timing",
                 "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err + captured.out
    stored = json.loads((tmp_path / "out" / "bench.json").read_text())
    entry = next(model for model in stored["models"] if model["name"] == "truncated")
    assert entry["verdict"]["status"] == "FAIL"
    assert any("its runtime cannot load" in reason and "model.onnx" in reason for reason in entry["verdict"]["reasons"])
    assert entry["diagnosis"]["causes"][0]["code"] == "file-unreadable"


def test_bad_thread_counts_and_outputs_inside_an_artifact_are_one_line_and_destroy_nothing(models, healthy, capsys):
    reference, _ = models
    artifact = healthy["onnx", "reference"]
    before = content_sha256(artifact / "model.onnx")
    assert main(["bench", str(artifact), "--threads", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--threads" in err and "greater than 0" in err
    for output in (artifact / "model.onnx", artifact / "inside"):
        assert main(["export", str(reference), "-o", str(output), "--target", "onnx", "--precision", "fp32",
                     "--seq-len", str(SEQ_LEN)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "--output-dir" in err and str(output) in err
    assert (artifact / "model.onnx").is_file() and content_sha256(artifact / "model.onnx") == before
    assert sorted(p.name for p in artifact.iterdir() if p.name.startswith(".")) == []  # no staging left behind
