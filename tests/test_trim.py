"""Vocabulary trimming: identical tokens and logits on every text whose pieces were all kept, a smaller
embedding table, tokenizer files that carry the new ids into every artifact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mobile_distill.export import ExportOptions, export
from mobile_distill.models import load_classifier, load_tokenizer
from mobile_distill.runners import load_runner
from mobile_distill.trim import trim_vocabulary

from .planted import EXTRA_WORDS, planted_texts, save_planted_model

TRAIN = planted_texts(64, seed=2)
KEEP_WORDS = set(EXTRA_WORDS[:150])  # the trimming texts use half of the made-up words


def _only(texts, words):
    return [t for t in texts if all(w.lower().translate(str.maketrans("áéíóú", "aeiou")) not in EXTRA_WORDS
                                    or w.lower() in words for w in t.split())]


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory):
    root = tmp_path_factory.mktemp("trim")
    model = save_planted_model(root / "model", TRAIN)
    texts = planted_texts(400, seed=5, extra=sorted(KEEP_WORDS))  # uses only the kept half
    test = planted_texts(200, seed=6)  # uses every made-up word
    result = trim_vocabulary(model, texts, root / "trimmed", test)
    return model, root / "trimmed", result.report, test


def test_the_table_shrinks_to_the_pieces_the_texts_use(trimmed):
    model, folder, report, _ = trimmed
    assert report["pieces_before"] == load_classifier(model).config.vocab_size
    assert report["pieces_after"] < report["pieces_before"] - 100
    assert load_classifier(folder).get_input_embeddings().weight.shape[0] == report["pieces_after"]
    vocab = (folder / "vocab.txt").read_text().splitlines()
    assert len(vocab) == report["pieces_after"] and vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert not any(word in vocab for word in set(EXTRA_WORDS) - KEEP_WORDS)


def test_texts_whose_pieces_were_kept_get_identical_tokens_and_logits(trimmed):
    model, folder, report, test = trimmed
    kept = _only(test, KEEP_WORDS)
    assert len(kept) >= 10
    old, new = load_tokenizer(model), load_tokenizer(folder)
    assert [old.convert_ids_to_tokens(i) for i in old(kept)["input_ids"]] == \
        [new.convert_ids_to_tokens(i) for i in new(kept)["input_ids"]]
    before = load_runner(model, seq_len=32).predict(kept)
    after = load_runner(folder, seq_len=32).predict(kept)
    np.testing.assert_allclose(after, before, atol=1e-5)
    assert 0 < report["test_texts_tokenized_differently"] <= len(test) - len(kept)


def test_every_artifact_carries_the_trimmed_vocabulary(trimmed, tmp_path):
    _, folder, report, test = trimmed
    artifact = export(folder, "onnx", "fp32", tmp_path / "onnx", ExportOptions(seq_len=32), TRAIN, test[:8])
    assert len((artifact / "vocab.txt").read_text().splitlines()) == report["pieces_after"]
    golden = json.loads((artifact / "tokenizer_golden.json").read_text())
    assert max(max(row["input_ids"]) for row in golden["rows"]) < report["pieces_after"]
    np.testing.assert_allclose(load_runner(artifact).predict(test), load_runner(folder, seq_len=32).predict(test),
                               atol=1e-4)
