"""The artifact folder contract, atomic writes, and one-line errors for bad input (parity with PyTorch
for every target and precision is in test_parity.py)."""

import dataclasses
import json

import numpy as np
import pytest

from mobile_distill import targets
from mobile_distill.errors import ConfigError, ModelError
from mobile_distill.export import ExportOptions, export, export_all
from mobile_distill.manifest import read_manifest
from mobile_distill.runners import load_runner

from .conftest import make_texts, save_tiny_model

SEQ_LEN = 32
TEXTS = [text for text, _ in make_texts(360, seed=5)]
EVAL, TRAIN = TEXTS[:120], TEXTS[120:]


def test_artifact_folder_contract(tmp_path):
    model = save_tiny_model(tmp_path / "bert", layers=2)
    artifact = export(model, "onnx", "int8-dynamic", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TRAIN, EVAL)
    manifest = read_manifest(artifact)
    assert [spec.name for spec in manifest.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest.output.name == "logits" and manifest.labels == ("negative", "positive")
    assert manifest.quantization["weight_type"] == "qint8" and manifest.quantization["reduce_range"] is True
    assert manifest.quantization["per_channel"] is True and manifest.graph["form"] == "plain"
    assert manifest.tokenizer.lower_case and manifest.tokenizer.special_tokens["cls_token"] == "[CLS]"
    assert manifest.source["hash"] and manifest.tool_versions["onnxruntime"] and manifest.export_seconds > 0
    assert (artifact / "labels.txt").read_text().splitlines() == ["negative", "positive"]
    vocab = (artifact / "vocab.txt").read_text().splitlines()
    assert vocab == (model / "vocab.txt").read_text().splitlines()
    golden = json.loads((artifact / "tokenizer_golden.json").read_text())
    assert golden["count"] >= 120 and golden["sequence_length"] == SEQ_LEN
    texts = [row["text"] for row in golden["rows"]]
    assert "" in texts and "电影很好看" in texts and any("😀" in t for t in texts)
    assert all(len(row["input_ids"]) == SEQ_LEN for row in golden["rows"])


def test_golden_file_has_at_least_500_texts_with_real_data(tmp_path):
    model = save_tiny_model(tmp_path / "bert", layers=1)
    many = [text for text, _ in make_texts(700, seed=9)]
    artifact = export(model, "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=16), many, many)
    assert json.loads((artifact / "tokenizer_golden.json").read_text())["count"] >= 500


def test_distilbert_artifact_has_no_token_type_input(tmp_path):
    model = save_tiny_model(tmp_path / "d", model_type="distilbert", layers=1)
    artifact = export(model, "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=SEQ_LEN), TRAIN, EVAL)
    assert [spec.name for spec in read_manifest(artifact).inputs] == ["input_ids", "attention_mask"]


def test_export_all_writes_every_pair_and_each_length(tmp_path):
    model = save_tiny_model(tmp_path / "d", model_type="distilbert", layers=1)
    written = export_all(model, tmp_path / "out", ["onnx"], (16, 32), ExportOptions(), TRAIN, EVAL)
    assert sorted(path.name for path in written) == sorted(
        f"onnx-{p}-s{n}" for p in ("fp32", "fp16", "int8-dynamic", "int8-static") for n in (16, 32))


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    model = save_tiny_model(tmp_path / "bert", layers=1)

    broken = dataclasses.replace(targets.TARGETS["onnx"], exporter=f"{__name__}:_crashing_exporter")
    monkeypatch.setitem(targets.TARGETS, "onnx", broken)
    with pytest.raises(RuntimeError):
        export(model, "onnx", "fp32", tmp_path / "artifact", ExportOptions(seq_len=SEQ_LEN), TRAIN, EVAL)
    assert not (tmp_path / "artifact").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bert"]


def _crashing_exporter(context, folder):
    (folder / "model.onnx").write_bytes(b"half")
    raise RuntimeError("converter crashed")


def _one_line(error_type, call) -> str:
    with pytest.raises(error_type) as error:
        call()
    assert "\n" not in str(error.value)
    return str(error.value)


def test_bad_input_gets_one_line_errors(tmp_path):
    model = save_tiny_model(tmp_path / "bert", layers=1)
    options = ExportOptions(seq_len=SEQ_LEN)
    message = _one_line(ConfigError, lambda: export(model, "onnx", "int4", tmp_path / "x", options, TRAIN))
    assert "target onnx with precision int4 is not supported; supported: onnx/fp32" in message
    message = _one_line(ConfigError, lambda: export(model, "onnx", "fp32", tmp_path / "x", ExportOptions(seq_len=100)))
    assert "seq_len 100 is over" in message and "64 positions" in message
    message = _one_line(ConfigError, lambda: export(model, "onnx", "int8-static", tmp_path / "x", options, []))
    assert "calibration" in message
    (tmp_path / "empty").mkdir()
    assert "not a Hugging Face model folder" in _one_line(
        ModelError, lambda: export(tmp_path / "empty", "onnx", "fp32", tmp_path / "x", options))
    no_tokenizer = save_tiny_model(tmp_path / "nt", layers=1)
    for name in ("vocab.txt", "tokenizer.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    assert "no tokenizer files" in _one_line(ModelError, lambda: export(no_tokenizer, "onnx", "fp32", tmp_path / "x", options))
    assert "neither an artifact folder" in _one_line(ModelError, lambda: load_runner(tmp_path / "empty"))
    assert not (tmp_path / "x").exists()


def test_runner_refuses_lengths_over_the_exported_maximum(tmp_path):
    model = save_tiny_model(tmp_path / "bert", layers=1)
    runner = load_runner(export(model, "onnx", "fp32", tmp_path / "a", ExportOptions(seq_len=16), TRAIN, EVAL))
    batch = {name: np.zeros((1, 20), np.int64) for name in runner.input_names}
    assert "over the exported maximum of 16" in _one_line(ModelError, lambda: runner.predict(batch))


def test_cli_export_all_precisions_and_unknown_pairs(tmp_path, capsys):
    from mobile_distill.cli import main

    model = save_tiny_model(tmp_path / "d", model_type="distilbert", layers=1)
    data = tmp_path / "texts.csv"
    data.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in make_texts(60)))
    assert main(["export", str(model), "-o", str(tmp_path / "out"), "--target", "onnx", "--precision", "all",
                 "--seq-len", "16", "--data", str(data)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == [
        "onnx-fp16-s16", "onnx-fp32-s16", "onnx-int8-dynamic-s16", "onnx-int8-static-s16"]
    capsys.readouterr()
    assert main(["export", str(model), "-o", str(tmp_path / "x"), "--target", "coreml", "--precision", "int8-dynamic",
                 "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--target coreml with --precision int8-dynamic is not supported; supported: onnx/fp32" in err
    assert main(["export", str(model), "-o", str(tmp_path / "x"), "--seq-len", "100", "--target", "onnx",
                 "--precision", "fp32", "--data", str(data)]) == 2
    assert "--seq-len 100 is over" in capsys.readouterr().err  # the library's seq_len, as the CLI's flag
    assert main(["export", str(model), "-o", str(tmp_path / "x"), "--precision", "int4"]) == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_cli_quiet_prints_nothing_for_a_passing_export(tmp_path, capfd):
    from mobile_distill.cli import main

    model = save_tiny_model(tmp_path / "d", model_type="distilbert", layers=1)
    data = tmp_path / "texts.csv"
    data.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in make_texts(60)))
    base = ["export", str(model), "--target", "onnx", "--precision", "fp32", "--seq-len", "16", "--data", str(data)]
    capfd.readouterr()  # what making the model printed
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    normal = capfd.readouterr()
    assert "exported -> " in normal.err and "Writing model shards" not in normal.err + normal.out
    assert main([*base, "-o", str(tmp_path / "b"), "--quiet"]) == 0
    quiet = capfd.readouterr()
    assert quiet.err == "" and quiet.out == ""


def test_vocab_txt_keeps_every_token_at_its_id_when_the_tokenizer_has_gaps(tmp_path):
    """A vocab.txt listing a token twice leaves an id unused (the later line wins); written densely,
    every later token would shift by one in an app that reads vocab.txt."""
    from transformers import BertTokenizerFast

    from mobile_distill.export.artifact import write_vocab

    source = tmp_path / "source.txt"
    source.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "fun", "film", "fun", "good"]) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(source), do_lower_case=True)
    write_vocab(tokenizer, tmp_path / "vocab.txt")
    lines = (tmp_path / "vocab.txt").read_text().splitlines()
    assert all(lines[i] == token for token, i in tokenizer.get_vocab().items())
    assert lines[5] == "[unused-id-5]" and BertTokenizerFast(vocab=str(tmp_path / "vocab.txt"))("good fun")["input_ids"] == \
        tokenizer("good fun")["input_ids"]
