"""TinyBERT's data augmentation for task distillation (Jiao et al. 2020, Algorithm 1).

Each training text is rewritten ``copies`` times; in each copy, every candidate word (one that is a
single wordpiece of the teacher's vocabulary) is replaced with probability ``probability`` by one of
its ``neighbours`` candidates. The paper takes the candidates of single-piece words from BERT's
masked-LM predictions at the word's position (the word masked) and GloVe neighbours otherwise. A
teacher fine-tuned for classification keeps no masked-LM head, so with ``masked_lm`` set (a masked-LM
model with the teacher's vocabulary, e.g. the pretrained BERT the teacher came from) its predictions
are used as in the paper; without it, the candidates are the nearest whole words in the teacher's own
word-embedding space (cosine similarity), which needs no extra model. The augmented texts carry no
label: they teach through the teacher's soft targets only (label -100, like a transfer set).

The texts are cached under a hash of the training texts, the teacher's embedding table, the masked-LM
model's weights and the settings (RUN/checkpoints/augmented-HASH), so a rerun reuses them.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import datasets

from ..atomic import atomic_folder
from ..hashing import folder_hash, settings_hash

_WORD = re.compile(r"^[a-z]+$")


def augmented_texts(texts: list[str], teacher, tokenizer, config, cache_root: Path, seed: int) -> datasets.Dataset:
    """``len(texts) * config.copies`` rewritten texts (cached)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    table = teacher.get_input_embeddings().weight
    masked_lm = _masked_lm_path(config.masked_lm)
    key = settings_hash(digest, config.model_dump(mode="json"), seed, tuple(table.shape), float(table.detach().sum()),
                        folder_hash(masked_lm) if masked_lm else None)
    folder = Path(cache_root) / f"augmented-{key}"
    if (folder / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(folder))
    neighbours = nearest_words(table, tokenizer, _candidates(texts, tokenizer), config.neighbours)
    if masked_lm is not None:
        options = masked_lm_options(texts, _load_masked_lm(masked_lm, tokenizer), tokenizer, config.neighbours)
    else:
        options = [[neighbours.get(word.lower()) for word in text.split()] for text in texts]
    rng = random.Random(seed)
    rewritten = [_rewrite(text, choices, config.probability, rng) for text, choices in zip(texts, options)
                 for _ in range(config.copies)]
    dataset = datasets.Dataset.from_dict({"text": rewritten})
    with atomic_folder(folder) as staging:
        dataset.save_to_disk(str(staging))
    return datasets.load_from_disk(str(folder))


def _candidates(texts: list[str], tokenizer) -> set[str]:
    """Words of the texts that are one whole wordpiece of the vocabulary."""
    vocab = tokenizer.get_vocab()
    return {word for text in texts for word in text.lower().split() if _WORD.match(word) and word in vocab}


def nearest_words(table, tokenizer, words: set[str], count: int) -> dict[str, list[str]]:
    """For each word, its ``count`` nearest whole words (alphabetic, not special) in the embedding table."""
    import torch

    vocab = tokenizer.get_vocab()
    pool, pool_ids = _word_pool(vocab)
    with torch.no_grad():
        normal = torch.nn.functional.normalize(table.detach().float(), dim=-1)
        pool_vectors = normal[pool_ids]
        ordered = sorted(words)
        result = {}
        for start in range(0, len(ordered), 512):
            chunk = ordered[start: start + 512]
            similarity = normal[torch.tensor([vocab[w] for w in chunk])] @ pool_vectors.T
            for word, row in zip(chunk, _top(similarity, pool, count)):
                result[word] = _others(row, pool, word, count)
    return result


def masked_lm_options(texts: list[str], model, tokenizer, count: int, batch_size: int = 64,
                      max_length: int = 128) -> list[list[list[str] | None]]:
    """For each word of each text, the masked-LM's ``count`` most likely whole words at its position with
    the word masked (the paper's candidates); None for a word that is not one wordpiece, or whose mask the
    length limit cut off."""
    import torch

    vocab = tokenizer.get_vocab()
    pool, pool_ids = _word_pool(vocab)
    queries = [(t, i, " ".join([*words[:i], tokenizer.mask_token, *words[i + 1:]]))
               for t, words in enumerate(text.split() for text in texts)
               for i, word in enumerate(words) if _WORD.match(word.lower()) and word.lower() in vocab]
    options = [[None] * len(text.split()) for text in texts]
    with torch.no_grad():
        for start in range(0, len(queries), batch_size):
            chunk = queries[start: start + batch_size]
            encoded = tokenizer([query for _, _, query in chunk], padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt")
            logits = model(**encoded).logits
            rows, positions = (encoded["input_ids"] == tokenizer.mask_token_id).nonzero(as_tuple=True)
            scores = logits[rows, positions][:, pool_ids]
            for row, best in zip(rows.tolist(), _top(scores, pool, count)):
                t, i, _ = chunk[row]
                options[t][i] = _others(best, pool, texts[t].split()[i].lower(), count)
    return options


def _word_pool(vocab: dict[str, int]):
    """The candidate words of a vocabulary (whole alphabetic pieces, no specials): (token, id) pairs and their ids."""
    import torch

    pool = sorted((token, i) for token, i in vocab.items() if _WORD.match(token))
    return pool, torch.tensor([i for _, i in pool])


def _top(scores, pool, count: int) -> list[list[int]]:
    """Per row of ``scores`` (rows x pool), the pool positions of the ``count`` + 1 best (one may be the
    word itself)."""
    return scores.topk(min(count + 1, len(pool)), dim=-1).indices.tolist()


def _others(top: list[int], pool, word: str, count: int) -> list[str]:
    """The first ``count`` words at pool positions ``top`` other than ``word`` itself."""
    return [pool[j][0] for j in top if pool[j][0] != word][:count]


def _masked_lm_path(name: str | None) -> Path | None:
    if name is None:
        return None
    from ..models import resolve_model_path

    return resolve_model_path(name)


def _load_masked_lm(path: Path, tokenizer):
    """The masked-LM model, refused in one line when it has no masked-LM head or another vocabulary."""
    from ..errors import ConfigError
    from ..models import load_masked_lm, load_tokenizer

    if load_tokenizer(path).get_vocab() != tokenizer.get_vocab():
        raise ConfigError(f"augment.masked_lm {path}: its vocabulary is not the teacher's; augmentation needs a "
                          "masked-LM model with the same wordpieces (e.g. the BERT the teacher was fine-tuned from)",
                          fields=("masked_lm",))
    model, lacking = load_masked_lm(path)
    if lacking:
        raise ConfigError(f"augment.masked_lm {path}: the model has no masked-LM head (its weights lack {lacking}); "
                          "give a model saved as a masked LM, or leave masked_lm unset to use the teacher's nearest "
                          "words", fields=("masked_lm",))
    return model


def _rewrite(text: str, options: list[list[str] | None], probability: float, rng: random.Random) -> str:
    words = []
    for word, choices in zip(text.split(), options):
        words.append(rng.choice(choices) if choices and rng.random() < probability else word)
    return " ".join(words)
