"""Classification metrics, calibration error and temperature scaling (numpy only, pure).

Conventions (shared by ``edge eval``, ``models/calibrate.py`` and the model card):

- Confusion matrix rows are the true class, columns the predicted class.
- A class the model knows but the data lacks (support 0) has no recall and no F1 (``None``);
  its precision is 0.0 if the model predicted it (every such prediction is wrong) and ``None``
  if it never did. Macro-F1 averages F1 over the classes present in the data only, so an absent
  class neither inflates nor deflates it; wrong predictions *of* an absent class still lower the
  recall (and F1) of the true classes and top-1.
- A class present in the data but never predicted has precision 0.0 (not undefined), so its F1
  is 0.0 and counts fully in macro-F1.
- ECE uses equal-width bins on the top probability over [0, 1]; bin ``i`` holds confidences in
  ``(i/B, (i+1)/B]`` (a confidence of exactly 0 falls in bin 0).
- Temperature scaling divides log-probabilities by ``T`` and renormalises: ``p ∝ exp(log p / T)``,
  exactly what :class:`edge.inference.classifier.ExpressionClassifier` does with the manifest's
  ``temperature``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.aggregation.shares import LOG_CLIP  # int8 outputs dequantize to exact zeros

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ClassScores:
    """Per-class results; ``None`` where the value is undefined (see module docstring)."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int
    predicted: int


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One bin of a reliability diagram."""

    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int) -> IntArray:
    """``n_classes x n_classes`` counts; row = true class, column = predicted class."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true labels but {p.size} predictions")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def class_scores(cm: IntArray) -> list[ClassScores]:
    """Precision, recall, F1, support and prediction count of every class of ``cm``."""
    scores = []
    for k in range(cm.shape[0]):
        tp = int(cm[k, k])
        support = int(cm[k, :].sum())
        predicted = int(cm[:, k].sum())
        if support == 0:
            precision = 0.0 if predicted else None
            scores.append(ClassScores(precision, None, None, 0, predicted))
            continue
        precision = tp / predicted if predicted else 0.0
        recall = tp / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScores(precision, recall, f1, support, predicted))
    return scores


def top1(cm: IntArray) -> float:
    """Fraction of samples on the diagonal (0.0 for an empty matrix)."""
    total = int(cm.sum())
    return float(np.trace(cm)) / total if total else 0.0


def macro_f1(cm: IntArray) -> float:
    """Mean F1 over the classes with support > 0 (0.0 when no class has support)."""
    values = [s.f1 for s in class_scores(cm) if s.support > 0 and s.f1 is not None]
    return float(np.mean(values)) if values else 0.0


def reliability_bins(
    probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 15
) -> list[ReliabilityBin]:
    """Equal-width bins of the top probability with each bin's accuracy and mean confidence."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    index = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    bins = []
    for i in range(n_bins):
        members = index == i
        count = int(members.sum())
        bins.append(
            ReliabilityBin(
                lower=i / n_bins,
                upper=(i + 1) / n_bins,
                count=count,
                accuracy=float(correct[members].mean()) if count else None,
                confidence=float(confidence[members].mean()) if count else None,
            )
        )
    return bins


def expected_calibration_error(
    probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 15
) -> float:
    """ECE: sum over bins of (bin share of samples) x |accuracy - mean confidence|."""
    bins = reliability_bins(probs, labels, n_bins)
    total = sum(b.count for b in bins)
    if total == 0:
        return 0.0
    return float(
        sum(
            b.count / total * abs(b.accuracy - b.confidence)
            for b in bins
            if b.accuracy is not None and b.confidence is not None
        )
    )


def log_probs_from_probs(probs: npt.ArrayLike) -> FloatArray:
    """``log(max(p, LOG_CLIP))``: what the classifier scales by ``1/T``."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), LOG_CLIP))


def apply_temperature(log_probs: npt.ArrayLike, temperature: float) -> FloatArray:
    """Probabilities ``p ∝ exp(log_probs / T)``, each row summing to 1."""
    z = np.asarray(log_probs, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def nll(log_probs: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` after temperature scaling."""
    z = np.asarray(log_probs, dtype=np.float64) / temperature
    y = np.asarray(labels, dtype=np.int64)
    zmax = z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def fit_temperature(
    log_probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    lower: float = 0.05,
    upper: float = 20.0,
    tol: float = 1e-6,
) -> float:
    """The temperature in ``[lower, upper]`` that minimises :func:`nll` on held-out data.

    The NLL is convex in ``1/T``, so a golden-section search on ``1/T`` finds the global
    minimum; deterministic, no randomness and no gradient.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if lp.ndim != 2 or len(lp) != len(y) or len(y) == 0:
        raise ValueError("need an N x C array of log-probabilities and N labels, N > 0")
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = 1.0 / upper, 1.0 / lower  # search over beta = 1/T

    def loss(beta: float) -> float:
        return nll(lp, y, 1.0 / beta)

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > tol * max(1.0, abs(a)):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return 1.0 / ((a + b) / 2.0)
