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
