"""Run a PyTorch classifier over a tokenized split; score Trainer's evaluations (metrics in `metrics`)."""

from __future__ import annotations

import numpy as np
import torch

from .data import collator_for
from .metrics import classification_metrics
from .models import forward_inputs


@torch.inference_mode()
def predict_logits(model, tokenizer, dataset, max_length: int, batch_size: int = 64, progress=None) -> np.ndarray:
    """Logits for every row of ``dataset`` (tokenized to ``max_length``, unpadded), in row order.

    Rows are batched by length so each batch pads only to its own longest text (see `collator_for`).
    """
    model.eval()
    collate = collator_for(tokenizer, max_length, model.config.model_type)
    feature_names = [c for c in dataset.column_names if c in ("input_ids", "attention_mask", "token_type_ids")]
    order = np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")
    logits = np.zeros((len(dataset), model.config.num_labels), dtype=np.float32)
    task = progress.add_task("predicting", total=len(order)) if progress is not None else None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        chunk = dataset[rows.tolist()]
        batch = collate([{name: chunk[name][j] for name in feature_names} for j in range(len(rows))])
        logits[rows] = model(**forward_inputs(model, dict(batch))).logits.float().numpy()
        if task is not None:
            progress.advance(task, len(rows))
    return logits


def trainer_metrics(eval_prediction) -> dict[str, float]:
    """`compute_metrics` for transformers.Trainer."""
    logits = eval_prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    metrics = classification_metrics(np.asarray(logits), np.asarray(eval_prediction.label_ids))
    metrics.pop("examples")
    return metrics
