"""Every registered (target, precision) pair, exported from text-dependent tiny models and run in its
own runtime: parity with PyTorch at gate 2's own floors, and the negative control (gate 2 passes a
healthy artifact, diagnose finds no cause in it and no check crashes).

The models (tests/planted.py: BERT, DistilBERT, MobileBERT with its bottlenecks, trigram
embeddings and NoNorm, and the BiLSTM and CNN students) predict both classes in about equal numbers and their logit gap has a
standard deviation of 2 over the texts, so a tolerance or a floor that a broken export could pass
shows up here: each test first checks that the reference's logits move with the text by more than
the tolerance. Agreement is measured on the texts the reference decides by more than twice the
precision's tolerance: a text whose logits are closer than the tolerance allows is a coin flip for
any correct export, and would make a floor test flaky instead of strict.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from mobile_distill.bench import run_bench
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.diagnose import diagnose
from mobile_distill.export import ExportOptions, export
from mobile_distill.metrics import agreement
from mobile_distill.precisions import PRECISIONS
from mobile_distill.runners import load_runner
from mobile_distill.runners.base import ArtifactRunner
from mobile_distill.targets import TARGETS, docs_table, supported_pairs

from . import planted
from .planted import margin_texts, planted_texts, save_planted_model

SEQ_LEN = 32
TEXTS = planted_texts(240, seed=7)
TRAIN = planted_texts(200, seed=8)
PAIRS = supported_pairs()


class Parity:
    """One text-dependent model, its reference logits, and its artifacts (exported once, on demand)."""

    def __init__(self, root, kind: str):
        self.root, self.kind = root, kind
        self.model = save_planted_model(root / kind, TRAIN, seed=0, model_type=kind)
        self.reference = load_runner(self.model, seq_len=SEQ_LEN).predict(TEXTS)
        self._artifacts = {}

    def artifact(self, target: str, precision: str):
        if (target, precision) not in self._artifacts:
            self._artifacts[target, precision] = export(self.model, target, precision,
                                                        self.root / f"{self.kind}-{target}-{precision}",
                                                        ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
        return self._artifacts[target, precision]


@pytest.fixture(scope="module", params=["bert", "distilbert", "mobilebert", "bilstm", "cnn"])
def parity(request, tmp_path_factory) -> Parity:
    return Parity(tmp_path_factory.mktemp("parity"), request.param)


def _runs_here(target: str) -> None:
    if not TARGETS[target].runs_here():
        pytest.skip(TARGETS[target].why_not_here())


def assert_parity(exported: np.ndarray, reference: np.ndarray, precision: str) -> None:
    """The parity claim for one precision: finite logits within its tolerance on every text, and gate 2's
    agreement floor on the texts the reference decides clearly. Raises AssertionError otherwise."""
    tolerance, floor = PRECISIONS[precision].max_abs_logit_diff, PRECISIONS[precision].min_agreement
    assert np.isfinite(exported).all(), "non-finite logits"
    decided = margin_texts(reference, tolerance)
    classes = reference[decided].argmax(-1)
    # the test can fail: the reference predicts every class, and its logits move by more than the tolerance
    assert len(decided) >= 80 and 0.25 <= classes.mean() <= 0.75, (len(decided), classes.mean())
    assert np.std(reference[:, 1] - reference[:, 0]) > 2 * tolerance
    quantile = PRECISIONS[precision].logit_diff_quantile
    difference = float(np.quantile(np.abs(exported - reference).max(-1), quantile))
    assert difference <= tolerance, (f"{precision}: max |logit difference| {difference:.3g} > {tolerance} "
                                     f"(on {quantile:.0%} of the texts)")
    rate = agreement(exported[decided], reference[decided])
    assert rate >= floor, f"{precision}: agreement {rate:.4f} < gate 2's {floor} on {len(decided)} texts"


@pytest.mark.parametrize("target,precision", PAIRS)
def test_exported_model_matches_pytorch_at_gate_2_floors(parity, target, precision):
    _runs_here(target)
    exported = load_runner(parity.artifact(target, precision)).predict(TEXTS)  # every batch has padding
    assert_parity(exported, parity.reference, precision)


def test_the_parity_check_fails_an_export_that_ignores_the_mask(parity, tmp_path):
    """The check above can see a collapse: the same fp32 ONNX with its mask input ignored fails it."""
    import shutil

    broken = shutil.copytree(parity.artifact("onnx", "fp32"), tmp_path / "unmasked")
    planted.ignore_onnx_mask(broken)
    with pytest.raises(AssertionError, match=r"max \|logit difference\|"):
        assert_parity(load_runner(broken).predict(TEXTS), parity.reference, "fp32")


@pytest.mark.parametrize("target,precision", PAIRS)
def test_healthy_artifact_passes_gate_2_and_diagnose_finds_no_cause(parity, target, precision):
    """The negative control of every planted collapse: the same checks on a healthy artifact find nothing."""
    _runs_here(target)
    artifact = parity.artifact(target, precision)
    decided = margin_texts(parity.reference, max(p.max_abs_logit_diff for p in PRECISIONS.values()))
    texts = [TEXTS[i] for i in decided]
    labels = parity.reference[decided].argmax(-1)  # the reference is right by definition: accuracy = agreement
    report = run_bench([artifact], texts, labels, parity.model, None, BenchConfig(timing=False, diagnose=False),
                       Gate2Config(), seq_len=SEQ_LEN)
    entry = report.artifacts()[0]
    assert entry.verdict.status == "PASS" and report.verdict == "PASS", entry.verdict.reasons
    assert all(check.ok for check in entry.contract), [c.detail for c in entry.contract if not c.ok]
    found = diagnose(artifact, parity.model, texts, labels.tolist())
    assert found.causes == [], [cause.summary for cause in found.causes]
    assert {check.name: check.summary for check in found.checks if check.status not in ("clear", "skipped")} == {}
    statuses = {check.name: check.status for check in found.checks}
    assert statuses["labels"] == statuses["manifest"] == statuses["input-binding"] == "clear"
    assert statuses["attention-mask"] == statuses["tokenizer"] == statuses["id-range"] == "clear"
    if PRECISIONS[precision].quantized and TARGETS[target].layer_comparison:
        layers = next(check for check in found.checks if check.name == "layers")
        assert layers.status == "clear" and layers.detail["quantized_nodes"] > 0, layers.summary


@pytest.mark.parametrize("target,precision", [("onnx", "fp32"), ("tflite", "fp32"), ("executorch", "int8-dynamic")])
def test_attention_mask_reaches_the_exported_model(parity, target, precision):
    """Padding is fully masked, and the mask is really used."""
    runner = load_runner(parity.artifact(target, precision))
    batch = runner.encode([TEXTS[0], max(TEXTS, key=len)])
    padded = batch["attention_mask"][0] == 0
    assert padded.any()
    full = runner.predict(batch)
    # other ids where the mask is 0, but for the first padding position: MobileBERT's trigram embedding
    # reads it as the last real token's right neighbour (the pad id, in the reference too)
    beyond = padded & np.roll(padded, 1)
    junk = {**batch, "input_ids": np.where(beyond, 7, batch["input_ids"])}
    assert np.allclose(runner.predict(junk)[0], full[0], atol=1e-5)
    unmasked = {**batch, "attention_mask": np.ones_like(batch["attention_mask"])}
    assert np.abs(runner.predict(unmasked)[0] - full[0]).max() > 0.05


# ---- the registries: a target or precision that lacks a part fails here ----

@pytest.mark.parametrize("name", list(TARGETS))
def test_every_target_has_every_part(name):
    target = TARGETS[name]
    assert issubclass(target.load("runner"), ArtifactRunner)
    assert callable(target.load("exporter")) and callable(target.load("declared_inputs"))
    assert len(inspect.signature(target.load("exporter")).parameters) == 2  # (ExportContext, folder)
    if target.layer_comparison:
        assert callable(target.load("layer_comparison")) and target.keep_float_names
    for precision in target.precisions:
        assert precision in PRECISIONS and precision in Gate2Config().max_accuracy_drop
    assert target.model_file.startswith("model.")


def test_every_pair_has_a_parity_test_and_a_negative_control():
    for test in (test_exported_model_matches_pytorch_at_gate_2_floors,
                 test_healthy_artifact_passes_gate_2_and_diagnose_finds_no_cause):
        (marker,) = [mark for mark in test.pytestmark if mark.name == "parametrize"]
        assert list(marker.args[1]) == supported_pairs()
    # a pair is only ever skipped because its target declares that its runtime does not run here
    assert all(TARGETS[t].runs_here() or TARGETS[t].platforms for t, _ in supported_pairs())


def test_every_precision_tolerance_is_smaller_than_the_logits_it_compares():
    """The parity model's logit gaps have a standard deviation of 2 (tests/planted.py)."""
    for precision in PRECISIONS.values():
        assert precision.max_abs_logit_diff < 1.0, precision.name


def test_the_docs_targets_table_comes_from_the_registry():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "export.md").read_text()
    assert docs_table() in page, "docs/export.md's target table is stale: paste mobile_distill.targets.docs_table()"
