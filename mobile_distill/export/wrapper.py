"""The module every exporter traces: named integer inputs in, logits out, an fp16-safe mask.

Why a wrapper instead of exporting the Hugging Face model directly:
- Inputs: phones feed int32 ids; the wrapper accepts any integer dtype and casts to int64 for the
  embedding lookup, so each format can declare the dtype its runtime wants.
- Mask: HF builds the additive mask with ``torch.finfo(float32).min``, which becomes -inf in
  fp16; ``0 * -inf`` is NaN and one NaN poisons the softmax (the fp16 collapse seen in public
  Core ML / TFLite DistilBERT reports). The wrapper passes a prepared 4D additive mask with a
  constant (-1e4) that fp16 represents, which HF uses as given.
- Output: logits only, as one tensor, so every format has the same single output.
- The BiLSTM and CNN students (``takes_padding_mask``) take the 0/1 mask as it is and trace their
  export path (``unrolled``: the LSTM written out step by step, see `students.textnets`).
"""

from __future__ import annotations

import inspect

import torch

MASK_VALUE = -1.0e4  # exp(-1e4) is 0 in fp32 and fp16 alike, and -1e4 is finite in fp16


class ClassifierWrapper(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, uses_token_types: bool):
        super().__init__()
        self.model = model.eval()
        self.uses_token_types = uses_token_types

    @property
    def input_names(self) -> list[str]:
        return ["input_ids", "attention_mask"] + (["token_type_ids"] if self.uses_token_types else [])

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        dtype = next(self.model.parameters()).dtype
        if getattr(self.model, "takes_padding_mask", False):
            return self.model(input_ids=input_ids, attention_mask=attention_mask.to(dtype), unrolled=True).logits
        keep = attention_mask[:, None, None, :].to(torch.bool)
        additive = torch.where(keep, torch.zeros((), dtype=dtype), torch.full((), MASK_VALUE, dtype=dtype))
        inputs = {"input_ids": input_ids.to(torch.long), "attention_mask": additive}
        if self.uses_token_types:
            inputs["token_type_ids"] = token_type_ids.to(torch.long)
        return self.model(**inputs).logits


def uses_token_types(model: torch.nn.Module) -> bool:
    """True when the model has token-type embeddings that segment ids can change (BERT, not DistilBERT)."""
    return getattr(model.config, "type_vocab_size", 0) > 1 and "token_type_ids" in inspect.signature(model.forward).parameters


def sample_batch(tokenizer, texts: list[str], seq_len: int, names: list[str]) -> dict[str, torch.Tensor]:
    """A real tokenized batch padded to ``seq_len``, one distinct tensor per input.

    Distinct tensors matter: torch.export treats one tensor object passed for several inputs as
    one aliased input, and the exported model then silently reads it for all of them.
    """
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=seq_len, return_tensors="pt",
                        return_token_type_ids="token_type_ids" in names)
    return {name: encoded[name].clone() for name in names}
