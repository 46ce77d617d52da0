"""The ONNX graph an artifact holds: fused by onnxruntime's transformer optimizer where it supports the
student (same logits as the plain graph), plain where asked or where fusing would change the model, and
int8 embedding tables in both int8 formats."""

import numpy as np
import onnx
import pytest

from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest
from mobile_distill.runners import load_runner
from mobile_distill.targets.onnx import fusion

from .conftest import make_texts, save_tiny_model

SEQ_LEN = 32
TEXTS = [text for text, _ in make_texts(120, seed=11)]


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    root = tmp_path_factory.mktemp("students")
    return {kind: save_tiny_model(root / kind, model_type=kind, layers=2, hidden=32) for kind in ("bert", "distilbert")}


def _nodes(artifact) -> list:
    return list(onnx.load(str(artifact / "model.onnx")).graph.node)


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_fp32_is_fused_into_contrib_operators_with_the_plain_graphs_logits(students, kind, tmp_path):
    fused = export(students[kind], "onnx", "fp32", tmp_path / "fused", ExportOptions(seq_len=SEQ_LEN), TEXTS, TEXTS)
    plain = export(students[kind], "onnx", "fp32", tmp_path / "plain", ExportOptions(seq_len=SEQ_LEN, onnx_graph="plain"),
                   TEXTS, TEXTS)
    graph = read_manifest(fused).graph
    assert graph["form"] == "fused" and graph["opsets"] == {"ai.onnx": 17, "com.microsoft": 1}
    assert sum(node.op_type == "Attention" for node in _nodes(fused)) == 2  # every layer
    assert {"Attention", "SkipLayerNormalization", "EmbedLayerNormalization"} <= set(graph["operators"]["com.microsoft"])
    assert read_manifest(plain).graph["form"] == "plain" and list(read_manifest(plain).graph["opsets"]) == ["ai.onnx"]
    # padded to the longest text, not the export length: the fused mask handles other lengths too
    fused_logits, plain_logits = (load_runner(folder).predict(TEXTS) for folder in (fused, plain))
    np.testing.assert_allclose(fused_logits, plain_logits, atol=1e-4)


def test_int8_dynamic_is_plain_by_default_and_fused_when_asked(students, tmp_path):
    """auto: the plain int8 graph ran faster than the fused one (config.QuantizationOptions.onnx_graph)."""
    default = export(students["bert"], "onnx", "int8-dynamic", tmp_path / "auto", ExportOptions(seq_len=SEQ_LEN),
                     TEXTS, TEXTS)
    assert read_manifest(default).graph["form"] == "plain" and "faster plain" in read_manifest(default).graph["why"]
    asked = export(students["bert"], "onnx", "int8-dynamic", tmp_path / "fused",
                   ExportOptions(seq_len=SEQ_LEN, onnx_graph="fused"), TEXTS, TEXTS)
    assert read_manifest(asked).graph["form"] == "fused"


def test_a_fused_graph_whose_logits_differ_is_not_kept(students, tmp_path, monkeypatch):
    original = fusion._ModelMaskWrapper.forward
    monkeypatch.setattr(fusion._ModelMaskWrapper, "forward", lambda self, *inputs: original(self, *inputs) * 1.5)
    artifact = export(students["bert"], "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TEXTS, TEXTS)
    graph = read_manifest(artifact).graph
    assert graph["form"] == "plain" and "logits differ from the plain export's" in graph["why"]
    assert not any(node.op_type == "Attention" for node in _nodes(artifact))
    assert sorted(path.name for path in artifact.iterdir() if path.suffix == ".onnx") == ["model.onnx"]


def test_a_graph_with_an_unfused_layer_is_not_kept(students, tmp_path, monkeypatch):
    optimize = fusion._optimize

    def one_attention_fewer(*args):
        fusions = optimize(*args)
        return {**fusions, "Attention": fusions["Attention"] - 1}

    monkeypatch.setattr(fusion, "_optimize", one_attention_fewer)
    artifact = export(students["bert"], "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TEXTS, TEXTS)
    assert read_manifest(artifact).graph["why"] == "the optimizer fused attention in 1 of 2 layers"


def test_a_student_with_pruned_heads_is_fused_per_layer(students, tmp_path):
    from mobile_distill.models import load_classifier, load_tokenizer
    from mobile_distill.prune import prune_heads

    pruned = tmp_path / "pruned"
    prune_heads(load_classifier(students["bert"]), {0: [1]}).save_pretrained(pruned)
    load_tokenizer(students["bert"]).save_pretrained(pruned)
    artifact = export(pruned, "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TEXTS, TEXTS)
    assert read_manifest(artifact).graph["form"] == "fused"  # layer 0 has 1 head, layer 1 has 2
    np.testing.assert_allclose(load_runner(artifact).predict(TEXTS), load_runner(pruned, seq_len=SEQ_LEN).predict(TEXTS),
                               atol=1e-4)


@pytest.mark.parametrize("precision", ["int8-dynamic", "int8-static"])
def test_int8_files_hold_int8_embedding_tables(students, precision, tmp_path):
    artifact = export(students["distilbert"], "onnx", precision, tmp_path / "a", ExportOptions(seq_len=SEQ_LEN),
                      TEXTS, TEXTS)
    model = onnx.load(str(artifact / "model.onnx"))
    rows = read_vocabulary_size(students["distilbert"])
    tables = [tensor for tensor in model.graph.initializer if tensor.dims and tensor.dims[0] == rows]
    int8 = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    assert tables and all(tensor.data_type in int8 for tensor in tables), [(t.name, t.data_type) for t in tables]


def read_vocabulary_size(model_dir) -> int:
    import json

    return json.loads((model_dir / "config.json").read_text())["vocab_size"]


def test_a_fused_int8_file_is_compared_layer_by_layer_with_a_fused_twin_and_takes_its_node_names(students, tmp_path):
    from mobile_distill.diagnose.layers import compare_layers

    model = students["distilbert"]
    fused = ExportOptions(seq_len=SEQ_LEN, onnx_graph="fused")
    artifact = export(model, "onnx", "int8-dynamic", tmp_path / "a", fused, TEXTS, TEXTS)
    comparison = compare_layers(artifact, model, TEXTS[:8])
    ranked = {item.op_type for item in comparison.sensitivity}
    assert "Attention" in ranked and len(comparison.tensors) > 10  # the twin's names matched the fused file's
    kept = comparison.sensitivity[0].node
    again = export(model, "onnx", "int8-dynamic", tmp_path / "kept", fused.model_copy(update={"keep_float": (kept,)}),
                   TEXTS, TEXTS)
    assert kept in {node.name for node in _nodes(again)}  # auto-fallback's re-export leaves that node float


def test_a_failing_optimizer_leaves_the_plain_graph_and_says_why(students, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("no pattern today")

    monkeypatch.setattr(fusion, "_optimize", broken)
    artifact = export(students["bert"], "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TEXTS, TEXTS)
    assert read_manifest(artifact).graph["why"] == "the fused export failed: RuntimeError: no pattern today"
    assert sorted(path.name for path in artifact.iterdir() if path.suffix == ".onnx") == ["model.onnx"]


def test_a_fused_fp16_file_keeps_a_named_node_fp32_and_loads(students, tmp_path):
    """The aarch64 lane's fallback keeps the classifier's Gemm fp32 in a fused fp16 file: Casts must surround it
    (the converter put none there when ONNX shape inference could not type the contrib operators)."""
    gemm = "/model/classifier/Gemm"
    artifact = export(students["bert"], "onnx", "fp16", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN, keep_float=(gemm,)),
                      TEXTS, TEXTS)
    assert read_manifest(artifact).graph["form"] == "fused"
    model = onnx.load(str(artifact / "model.onnx"))
    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    node = next(node for node in model.graph.node if node.name == gemm)
    assert node.input[1] in floats and any(n.op_type == "Cast" and n.output[0] == node.input[0] for n in model.graph.node)
    assert load_runner(artifact).predict(TEXTS).shape == (len(TEXTS), 2)


def test_an_export_onnxruntime_cannot_load_fails_and_leaves_nothing(students, tmp_path, monkeypatch):
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from mobile_distill.errors import ModelError
    from mobile_distill.targets.onnx import export as onnx_export

    def untyped_fp16(path, keep_float=(), fused=False):  # the converter route that once wrote a mixed-type Gemm
        onnx.save(convert_float_to_float16(onnx.load(str(path)), keep_io_types=True, node_block_list=list(keep_float)),
                  str(path))
        return {"scheme": "fp16"}

    monkeypatch.setattr(onnx_export, "_to_fp16", untyped_fp16)
    with pytest.raises(ModelError, match="onnx fp16 export wrote a fused graph onnxruntime cannot load .*--onnx-graph plain"):
        export(students["bert"], "onnx", "fp16", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN,
               keep_float=("/model/classifier/Gemm",)), TEXTS, TEXTS)
    assert not (tmp_path / "a").exists()


def test_int8_dynamic_qint8_weights_stay_within_7_bits(students, tmp_path):
    """x86 kernels without VNNI sum u8 x s8 pairs in 16 bits: 8-bit weights saturate them (the parity student lost
    2.3 points), 7-bit ones cannot (255 x 64 x 2 < 32,767). Every signed int8 weight of the file stays in
    [-64, 64] (onnxruntime's symmetric 7-bit range)."""
    from onnx import numpy_helper

    artifact = export(students["bert"], "onnx", "int8-dynamic", tmp_path / "a",
                      ExportOptions(seq_len=SEQ_LEN, onnx_weight_type="qint8"), TEXTS, TEXTS)
    assert read_manifest(artifact).quantization["reduce_range"] is True
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(artifact / "model.onnx")).graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert len(weights) >= 6  # the layers' attention and feed-forward matrices, the pooler, the classifier
    assert min(w.min() for w in weights) >= -64 and max(w.max() for w in weights) <= 64


def test_each_int8_scheme_ranks_the_classifier_by_the_name_its_quantizer_excludes_it_by(students, tmp_path):
    """quantize_dynamic splits a Gemm into <Gemm>_MatMul before it matches nodes_to_exclude; quantize_static keeps
    the Gemm: auto-fallback's keep_float must name the classifier the way each one does."""
    from mobile_distill.diagnose import layer_sensitivity

    model = students["bert"]
    for precision, name in (("int8-dynamic", "/model/classifier/Gemm_MatMul"), ("int8-static", "/model/classifier/Gemm")):
        artifact = export(model, "onnx", precision, tmp_path / precision, ExportOptions(seq_len=SEQ_LEN), TEXTS, TEXTS)
        assert name in [item.node for item in layer_sensitivity(artifact, model, TEXTS[:8])], precision
        kept = export(model, "onnx", precision, tmp_path / f"{precision}-kept",
                      ExportOptions(seq_len=SEQ_LEN, keep_float=(name,)), TEXTS, TEXTS)
        assert name not in [item.node for item in layer_sensitivity(kept, model, TEXTS[:8])], precision
