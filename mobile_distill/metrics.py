"""The numbers every stage reports about predictions, defined once: accuracy, macro-F1, agreement
(NaN-aware), Cohen's kappa and the KL divergence between two models' softmax outputs."""

from __future__ import annotations

import numpy as np


def predictions(logits: np.ndarray) -> np.ndarray:
    """The predicted class per row; -1 where a logit is NaN or inf (such a row is never right)."""
    logits = np.asarray(logits)
    return np.where(np.isfinite(logits).all(-1), logits.argmax(-1), -1)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of rows on which two models predict the same class; a row with a NaN or inf logit
    on either side never agrees (an argmax over NaN would pick class 0 and could "agree")."""
    if not len(a):
        return 1.0
    finite = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    return float(np.mean((np.asarray(a).argmax(-1) == np.asarray(b).argmax(-1)) & finite))


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of the predicted classes: agreement beyond what the class frequencies give by chance.

    Guards counterfactual checks: a feed that makes a model predict one class for every text
    "agrees" perfectly with an artifact that has collapsed to that class, and means nothing.
    """
    ours = predictions(a)
    theirs = np.where(np.isfinite(b).all(-1), np.asarray(b).argmax(-1), -2)  # non-finite rows never match
    observed = float(np.mean(ours == theirs))
    chance = sum(float(np.mean(ours == k)) * float(np.mean(theirs == k)) for k in np.unique(ours))
    return (observed - chance) / (1.0 - chance) if chance < 1.0 else 0.0


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return prediction_metrics(predictions(logits), labels)


def prediction_metrics(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (over the classes the labels hold) of predicted classes; -1 is never right."""
    from sklearn.metrics import f1_score

    predicted, labels = np.asarray(predicted), np.asarray(labels)
    return {
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else 0.0,
        "macro_f1": float(f1_score(labels, predicted, average="macro", labels=np.unique(labels))) if len(labels) else 0.0,
        "examples": int(len(labels)),
    }


def mean_kl(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean over rows of KL(softmax(reference) || softmax(other)), in nats; inf/NaN logits give inf."""
    if not np.isfinite(other).all():
        return float("inf")
    log_p = reference - np.logaddexp.reduce(reference, axis=-1, keepdims=True)
    log_q = other - np.logaddexp.reduce(other, axis=-1, keepdims=True)
    return max(0.0, float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1))))  # >= 0 up to rounding


def majority_rate(labels: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent label: the floor a model must clearly beat."""
    labels = np.asarray(labels)
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else 0.0
