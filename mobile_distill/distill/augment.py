"""TinyBERT's data augmentation for task distillation (Jiao et al. 2020, Algorithm 1).

Each training text is rewritten ``copies`` times; in each copy, every candidate word (one that is a
single wordpiece of the teacher's vocabulary) is replaced with probability ``probability`` by one of
its ``neighbours`` nearest words. The paper takes candidates from BERT's masked-LM predictions for
single-piece words and GloVe neighbours otherwise; a teacher fine-tuned for classification keeps no
masked-LM head, so here the neighbours are the nearest whole words in the teacher's own word-embedding
space (cosine similarity), which needs no extra model. The augmented texts carry no label: they teach
through the teacher's soft targets only (label -100, like a transfer set).

The texts are cached under a hash of the training texts, the teacher's embedding table and the
settings (RUN/checkpoints/augmented-HASH), so a rerun reuses them.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import datasets

from ..atomic import atomic_folder
from ..hashing import settings_hash

_WORD = re.compile(r"^[a-z]+$")


def augmented_texts(texts: list[str], teacher, tokenizer, config, cache_root: Path, seed: int) -> datasets.Dataset:
    """``len(texts) * config.copies`` rewritten texts (cached)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    table = teacher.get_input_embeddings().weight
    key = settings_hash(digest, config.model_dump(mode="json"), seed, tuple(table.shape), float(table.detach().sum()))
    folder = Path(cache_root) / f"augmented-{key}"
    if (folder / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(folder))
    neighbours = nearest_words(table, tokenizer, _candidates(texts, tokenizer), config.neighbours)
    rng = random.Random(seed)
    rewritten = [_rewrite(text, neighbours, config.probability, rng) for text in texts for _ in range(config.copies)]
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
    pool = sorted((token, i) for token, i in vocab.items() if _WORD.match(token))
    pool_ids = torch.tensor([i for _, i in pool])
    with torch.no_grad():
        normal = torch.nn.functional.normalize(table.detach().float(), dim=-1)
        pool_vectors = normal[pool_ids]
        ordered = sorted(words)
        result = {}
        for start in range(0, len(ordered), 512):
            chunk = ordered[start: start + 512]
            similarity = normal[torch.tensor([vocab[w] for w in chunk])] @ pool_vectors.T
            top = similarity.topk(min(count + 1, len(pool)), dim=-1).indices
            for word, row in zip(chunk, top.tolist()):
                result[word] = [pool[j][0] for j in row if pool[j][0] != word][:count]
    return result


def _rewrite(text: str, neighbours: dict[str, list[str]], probability: float, rng: random.Random) -> str:
    words = []
    for word in text.split():
        options = neighbours.get(word.lower())
        words.append(rng.choice(options) if options and rng.random() < probability else word)
    return " ".join(words)
