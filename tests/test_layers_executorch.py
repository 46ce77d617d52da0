"""ExecuTorch int8-dynamic with Linears kept in float (keep_float), the per-layer sensitivity that
picks them, and bench's --auto-fallback using both, on a tiny BERT with one Linear that
per-channel int8 destroys."""

import numpy as np
import pytest

from mobile_distill.bench import run_bench
from mobile_distill.config import BenchConfig, Gate2Config
from mobile_distill.targets.executorch.layers import executorch_sensitivity
from mobile_distill.errors import ConfigError
from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest
from mobile_distill.precisions import PRECISIONS
from mobile_distill.runners import load_runner

from .planted import (
    OUTLIER_LAYER,
    agreement,
    margin_texts,
    planted_texts,
    save_planted_model,
)

pytestmark = pytest.mark.slow  # ExecuTorch exports and a bench with auto-fallback: about a minute

SEQ_LEN = 32
TEXTS = planted_texts(96, seed=1)
TRAIN = planted_texts(64, seed=2)
LAYER = OUTLIER_LAYER
KEPT = f"model.{LAYER}"  # as keep_float names it: the path under the export wrapper
GATE_FLOOR = Gate2Config().min_agreement["int8-dynamic"]
LINEARS = 2 * 6 + 2  # per layer q, k, v, attention output, intermediate, output; then pooler and classifier


def outlier_rows(model) -> None:
    """A weight of 1000 in every output row of one FFN Linear, on an input feature that is always 0.

    In fp32 the outliers multiply 0 and change nothing. Each row's per-channel int8 scale is then
    1000 / 127, so every other weight of the layer rounds to 0. (planted.outlier_weight hits one
    row, which per-channel scales confine; planted.outlier_every_row, made for TFLite, leaves more
    int8 noise in the other layers of this 16-wide model: 0.97 agreement with it kept float.)
    """
    norm = model.get_submodule("bert.encoder.layer.0.attention.output.LayerNorm")
    norm.weight[0] = 0.0
    norm.bias[0] = 0.0
    model.get_submodule(LAYER).weight[:, 0] = 1000.0


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(model folder, reference logits, its int8-dynamic .pte, that .pte's agreement with the reference)."""
    root = tmp_path_factory.mktemp("outlier_rows")
    model = save_planted_model(root / "model", TRAIN, mutate=outlier_rows)
    reference = load_runner(model, seq_len=SEQ_LEN).predict(TEXTS)
    assert 0.2 <= reference.argmax(-1).mean() <= 0.8  # agreement means something only if both classes occur
    artifact = export(model, "executorch", "int8-dynamic", root / "int8", ExportOptions(seq_len=SEQ_LEN), TRAIN, TEXTS[:8])
    collapsed = agreement(load_runner(artifact).predict(TEXTS), reference)
    assert collapsed < GATE_FLOOR, f"the planted layer left agreement at {collapsed}"
    return model, reference, artifact, collapsed


def test_sensitivity_ranks_the_destroyed_linear_first(planted):
    model, _, artifact, _ = planted
    ranking = executorch_sensitivity(artifact, model, TEXTS[:16])
    assert len(ranking) == LINEARS and {item.op_type for item in ranking} == {"Linear"}
    top = ranking[0]
    assert (top.node, top.module) == (KEPT, LAYER)
    assert top.error > 0.9 and top.added_error > 0.5
    assert top.added_error > 3 * ranking[1].added_error, [(item.node, round(item.added_error, 3)) for item in ranking[:3]]


def test_keep_float_leaves_that_linear_fp32_in_the_pte(planted, tmp_path):
    model, reference, artifact, collapsed = planted
    options = ExportOptions(seq_len=SEQ_LEN, keep_float=(KEPT,))
    repaired = export(model, "executorch", "int8-dynamic", tmp_path / "kept", options, TRAIN, TEXTS[:8])
    quantization = read_manifest(repaired).quantization
    assert quantization["kept_float"] == [KEPT]
    assert quantization["quantized_linears"] == read_manifest(artifact).quantization["quantized_linears"] - 1 == LINEARS - 1
    # The .pte itself: with the destroyed Linear in float it passes gate 2's agreement floor again.
    logits = load_runner(repaired).predict(TEXTS)
    decided = margin_texts(reference, PRECISIONS["int8-dynamic"].max_abs_logit_diff)  # not the coin flips
    assert agreement(logits[decided], reference[decided]) >= max(GATE_FLOOR, collapsed + 0.3)
    assert np.abs(logits - reference).max() < 0.25 * np.abs(load_runner(artifact).predict(TEXTS) - reference).max()
    # The sensitivity rebuilds the artifact's own recipe: the kept Linear is no longer a candidate.
    assert KEPT not in [item.node for item in executorch_sensitivity(repaired, model, TEXTS[:4])]


def test_unknown_keep_float_name_is_a_one_line_config_error(planted, tmp_path):
    model = planted[0]
    options = ExportOptions(seq_len=SEQ_LEN, keep_float=(LAYER,))  # missing the wrapper's "model." prefix
    with pytest.raises(ConfigError) as error:
        export(model, "executorch", "int8-dynamic", tmp_path / "bad", options, TRAIN, TEXTS[:8])
    message = str(error.value)
    assert message.startswith("keep_float:") and LAYER in message and "\n" not in message
    assert "model.bert.encoder.layer.0.attention.self.query" in message  # lists valid names
    assert not (tmp_path / "bad").exists()


def test_bench_names_the_linear_and_auto_fallback_replaces_the_pte(planted):
    model, reference, artifact, _ = planted
    settings = BenchConfig(timing=False, diagnose=True, auto_fallback=True)
    report = run_bench([artifact], TEXTS, reference.argmax(-1), model, None, settings, Gate2Config(), seq_len=SEQ_LEN,
                       calibration_texts=TRAIN)
    original, replacement = report.artifacts()
    cause = original.diagnosis["causes"][0]
    assert cause["code"] == "quantization-layer" and f"module {LAYER}" in cause["summary"]
    assert original.verdict.status == "FAIL" and replacement.verdict.status == "PASS" and report.verdict == "PASS"
    assert original.fallback["kept_float"][0] == KEPT and replacement.replaces == original.name
    assert read_manifest(replacement.path).quantization["kept_float"] == original.fallback["kept_float"]
