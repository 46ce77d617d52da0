"""TFLite specifics: named static int32 inputs, metadata read back by independent readers, and
MediaPipe's own TextClassifier (the task code Android apps run) agreeing with PyTorch on raw text."""

import numpy as np
import pytest

from mobile_distill.export import ExportOptions, export
from mobile_distill.manifest import read_manifest
from mobile_distill.targets.tflite.metadata import display_metadata_json, read_metadata
from mobile_distill.runners import load_runner

from .conftest import make_texts, save_tiny_model

TEXTS = [text for text, _ in make_texts(200, seed=11)]


@pytest.fixture(scope="module")
def distilbert_tflite(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfl")
    model = save_tiny_model(root / "student", model_type="distilbert", layers=2, seed=4)
    return model, export(model, "tflite", "fp32", root / "artifact", ExportOptions(seq_len=24), TEXTS[40:], TEXTS[:40])


def test_manifest_and_metadata_describe_the_same_model(distilbert_tflite):
    _, artifact = distilbert_tflite
    manifest = read_manifest(artifact)
    assert [(s.name, s.dtype, s.shape) for s in manifest.inputs] == [
        ("input_ids", "int32", (1, 24)), ("attention_mask", "int32", (1, 24)), ("token_type_ids", "int32", (1, 24))]
    assert manifest.static_shapes and manifest.quantization["ignored_inputs"] == ["token_type_ids"]
    metadata = read_metadata(str(artifact / "model.tflite"))
    assert metadata["labels"] == ["negative", "positive"]
    assert metadata["input_names"] == ["ids", "mask", "segment_ids"]
    assert sorted(metadata["signature_inputs"]) == ["attention_mask", "input_ids", "token_type_ids"]
    assert metadata["tokenizer"]["vocab_in_model"]
    assert metadata["tokenizer"]["vocab_size"] == len((artifact / "vocab.txt").read_text().splitlines())
    assert '"BertTokenizerOptions"' in display_metadata_json(str(artifact / "model.tflite"))  # MediaPipe's C++ reader


def test_static_length_is_enforced(distilbert_tflite):
    from mobile_distill.errors import ModelError

    _, artifact = distilbert_tflite
    runner = load_runner(artifact)
    batch = {name: np.zeros((1, 16), np.int32) for name in runner.input_names}
    with pytest.raises(ModelError, match="exactly 24 tokens"):
        runner.predict(batch)


def test_mediapipe_text_classifier_matches_pytorch_on_raw_text(distilbert_tflite):
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.text import TextClassifier, TextClassifierOptions

    model, artifact = distilbert_tflite
    texts = TEXTS[:20] + [" ".join(TEXTS[20:30])]  # the last one is longer than 24 tokens
    reference = load_runner(model, seq_len=24).predict(texts)
    options = TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(artifact / "model.tflite")))
    with TextClassifier.create_from_options(options) as classifier:
        for text, logits in zip(texts, reference):
            categories = classifier.classify(text).classifications[0].categories
            scores = {c.category_name: c.score for c in categories}  # MediaPipe reports the raw output
            assert scores["negative"] == pytest.approx(float(logits[0]), abs=1e-4)
            assert scores["positive"] == pytest.approx(float(logits[1]), abs=1e-4)


@pytest.mark.parametrize("precision", ["fp16", "int8-dynamic"])
def test_quantized_models_over_256kb_keep_loading_after_metadata(tmp_path, precision):
    """ai-edge-quantizer stores >= 256 KB of weights after the flatbuffer (offset buffers); writing
    metadata must not break them (it did: 'Constant buffer N specified an out of range offset')."""
    model = save_tiny_model(tmp_path / "medium", model_type="distilbert", layers=2, hidden=192, seed=6)
    artifact = export(model, "tflite", precision, tmp_path / "a", ExportOptions(seq_len=16), TEXTS[40:], TEXTS[:40])
    assert (artifact / "model.tflite").stat().st_size > 256 * 1024
    assert read_metadata(str(artifact / "model.tflite"))["labels"] == ["negative", "positive"]
    reference = load_runner(model, seq_len=16).predict(TEXTS[:30])
    exported = load_runner(artifact).predict(TEXTS[:30])
    assert np.mean(exported.argmax(-1) == reference.argmax(-1)) >= 0.95
