"""Tokenize a split once, keeping count of the texts the max length cut short."""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from ..families import family


@dataclass(frozen=True)
class TokenizedSplit:
    """Model inputs (``input_ids``, ``attention_mask``, maybe ``token_type_ids``) and ``labels`` if known."""

    dataset: datasets.Dataset
    truncated: int

    @property
    def total(self) -> int:
        return len(self.dataset)


def tokenize_split(table: datasets.Dataset, tokenizer, max_length: int, desc: str = "tokenizing") -> TokenizedSplit:
    """Tokenize ``table`` (``text``, optional ``text_pair``, optional ``label``) without padding.

    Padding is left to the collator so each batch pads only to its own longest text.
    """
    has_pairs = "text_pair" in table.column_names

    def encode(batch):
        pairs = batch["text_pair"] if has_pairs else None
        encoded = tokenizer(batch["text"], pairs, truncation=True, max_length=max_length)
        # Only rows that hit max_length can have been cut; re-measure just those, untruncated.
        full = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) >= max_length]
        cut = [False] * len(batch["text"])
        if full:
            texts = [batch["text"][i] for i in full]
            others = [pairs[i] for i in full] if has_pairs else None
            lengths = tokenizer(texts, others, truncation=False, verbose=False)["input_ids"]
            for i, ids in zip(full, lengths):
                cut[i] = len(ids) > max_length
        encoded["truncated"] = cut
        return dict(encoded)

    keep = {"label"} & set(table.column_names)
    encoded = table.map(encode, batched=True, remove_columns=[c for c in table.column_names if c not in keep], desc=desc)
    truncated = int(sum(encoded["truncated"]))
    encoded = encoded.remove_columns("truncated")
    if "label" in encoded.column_names:
        encoded = encoded.rename_column("label", "labels")
    return TokenizedSplit(dataset=encoded, truncated=truncated)


def collator_for(tokenizer, max_length: int, *model_types: str):
    """The batch collator for models of ``model_types`` (a teacher and its student see the same batch):
    pads each batch to its longest text, plus one pad if any of them is padding-sensitive.

    MobileBERT's trigram embedding gives each token its right neighbour's embedding, so the last real
    token reads [PAD]'s embedding when padding follows it and zeros when none does: its logits depend on
    how far the batch is padded (`Family.padding_sensitive`). Exported files always run padded to their
    full length, so these models are trained and evaluated with at least one pad after the longest text
    (up to the length limit), which gives every text the context it has on the phone for one extra
    column per batch."""
    from transformers import DataCollatorWithPadding

    if not any(family(model_type).padding_sensitive for model_type in model_types):
        return DataCollatorWithPadding(tokenizer)

    def collate(features: list[dict]) -> dict:
        longest = max(len(feature["input_ids"]) for feature in features)
        return DataCollatorWithPadding(tokenizer, padding="max_length", max_length=min(longest + 1, max_length))(features)
    return collate
