"""TinyBERT's data augmentation: copies per text, replacements drawn from the teacher's nearest words at
about the asked rate, cached by a hash so a rerun reuses them."""

from __future__ import annotations

from mobile_distill.config import AugmentConfig
from mobile_distill.distill.augment import augmented_texts, nearest_words
from mobile_distill.models import load_classifier, load_tokenizer

from .planted import planted_texts, save_planted_model

TEXTS = [text.lower() for text in planted_texts(60, seed=4)]


def test_copies_replace_words_with_the_teachers_nearest_ones_and_are_cached(tmp_path):
    model = save_planted_model(tmp_path / "teacher", TEXTS)
    teacher, tokenizer = load_classifier(model), load_tokenizer(model)
    config = AugmentConfig(copies=3, probability=0.4, neighbours=5)
    out = list(augmented_texts(TEXTS, teacher, tokenizer, config, tmp_path / "cache", seed=0)["text"])
    assert len(out) == 3 * len(TEXTS)
    words = {w for t in TEXTS for w in t.split() if w in tokenizer.get_vocab()}
    near = nearest_words(teacher.get_input_embeddings().weight, tokenizer, words, 5)
    replaced = total = 0
    for original, copy in zip((t for t in TEXTS for _ in range(3)), out):
        for before, after in zip(original.split(), copy.split()):
            if before in near:
                total += 1
                if after != before:
                    replaced += 1
                    assert after in near[before]
    assert 0.3 < replaced / total < 0.5  # about the asked 40%
    (cache,) = (tmp_path / "cache").glob("augmented-*")
    stamp = cache.stat().st_mtime_ns
    again = list(augmented_texts(TEXTS, teacher, tokenizer, config, tmp_path / "cache", seed=0)["text"])
    assert again == out and cache.stat().st_mtime_ns == stamp  # reused, not rebuilt


def _masked_lm(teacher_folder, folder):
    """A BertForMaskedLM with the teacher's vocabulary and wide random weights: peaked, context-dependent
    predictions that differ from the teacher's nearest words."""
    import shutil

    import torch
    from transformers import BertConfig, BertForMaskedLM

    shutil.copytree(teacher_folder, folder)
    for file in folder.glob("*.safetensors"):
        file.unlink()
    config = BertConfig.from_pretrained(teacher_folder)
    config.architectures, config.initializer_range = ["BertForMaskedLM"], 0.5
    torch.manual_seed(1)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder


def test_with_a_masked_lm_each_word_is_replaced_by_its_predictions_at_that_position(tmp_path):
    import pytest

    from mobile_distill.distill.augment import masked_lm_options
    from mobile_distill.errors import ConfigError
    from mobile_distill.models import load_masked_lm

    model = save_planted_model(tmp_path / "teacher", TEXTS)
    teacher, tokenizer = load_classifier(model), load_tokenizer(model)
    masked_lm = _masked_lm(model, tmp_path / "mlm")
    config = AugmentConfig(copies=2, probability=1.0, neighbours=3, masked_lm=str(masked_lm))
    out = list(augmented_texts(TEXTS, teacher, tokenizer, config, tmp_path / "cache", seed=0)["text"])
    options = masked_lm_options(TEXTS, load_masked_lm(masked_lm)[0], tokenizer, 3)
    near = nearest_words(teacher.get_input_embeddings().weight, tokenizer,
                         {w for t in TEXTS for w in t.split() if w in tokenizer.get_vocab()}, 3)
    checked = differs = 0
    for (text, choices), copy in zip(((t, o) for t, o in zip(TEXTS, options) for _ in range(2)), out):
        for word, candidates, after in zip(text.split(), choices, copy.split()):
            if candidates:
                assert after in candidates, (word, after, candidates)  # probability 1: always replaced
                checked += 1
                differs += set(candidates) != set(near.get(word, []))
    assert checked > 100 and differs > checked // 2  # the masked LM's candidates, not the nearest words

    with pytest.raises(ConfigError, match="no masked-LM head"):  # a classifier is not a masked LM
        augmented_texts(TEXTS, teacher, tokenizer, config.model_copy(update={"masked_lm": str(model)}),
                        tmp_path / "cache", seed=0)
