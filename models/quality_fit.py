"""Fit the per-face quality temperature of ``edge.inference.quality`` (``calibrate.py --quality``)
and the share temperature factor of ``edge.aggregation.shares`` (``calibrate.py --shares``).

``log T = intercept + sharpness*s + contrast*c + entropy*h`` is fitted by weighted negative
log-likelihood (gradient descent with backtracking on standardised features; the problem is
smooth and has four unknowns) on held-out training faces: each face clean, and once under every
(family, level) of ``edge/tools/eval/conditions.py`` at the given levels. The clean copy weighs
as much as one level of all 13 families together (weight 13 against 1 per degraded copy), so
with the three levels clean faces carry a quarter of the fit: a camera mostly sees faces between
clean and mild, and the fit must also hold where they are not.

The share factor is chosen on the same faces and weights, by what it is for: the least mean
window share error against the crowd's vote shares (20-face windows), over a grid of factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.aggregation.shares import soften
from edge.inference.quality import QualityFeatures, QualityTemperature, entropy

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QualitySet:
    """What the fit needs of a set of faces: features ``(s, c, h)``, log-probabilities at
    ``T = 1`` (clipped like the runtime), labels, weights and each face's condition name."""

    features: F64
    log_probs: F64
    labels: npt.NDArray[np.int64]
    weights: F64
    conditions: npt.NDArray[np.str_]


def features_of(crops: npt.NDArray[np.uint8], probs: F64) -> F64:
    """``(s, c, h)`` per face, exactly as the classifier computes them."""
    feats = QualityFeatures(crops.shape[1]).crop_features(crops)
    return np.concatenate([feats, entropy(probs)[:, None]], axis=1)


def _nll_grad(theta: F64, x: F64, lp: F64, y: npt.NDArray[np.int64], w: F64) -> tuple[float, F64]:
    t = np.exp(x @ theta)
    z = lp / t[:, None]
    zmax = z.max(axis=1, keepdims=True)
    e = np.exp(z - zmax)
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    nll = -z[rows, y] + np.log(e.sum(axis=1)) + zmax[:, 0]
    grad = ((lp[rows, y] - (p * lp).sum(axis=1)) / t)[:, None] * x
    return float((nll * w).sum() / w.sum()), (grad * w[:, None]).sum(axis=0) / w.sum()


def fit(data: QualitySet, *, t_min: float = 0.2, t_max: float = 5.0) -> QualityTemperature:
    """The NLL-optimal quality temperature on ``data`` (deterministic)."""
    mu, sd = data.features.mean(axis=0), data.features.std(axis=0) + 1e-12
    x = np.concatenate([np.ones((len(data.labels), 1)), (data.features - mu) / sd], axis=1)
    theta = np.zeros(x.shape[1])
    f0, g = _nll_grad(theta, x, data.log_probs, data.labels, data.weights)
    lr = 0.5
    for _ in range(5000):
        step = lr
        while True:
            cand = theta - step * g
            f1, g1 = _nll_grad(cand, x, data.log_probs, data.labels, data.weights)
            if f1 <= f0 - 1e-4 * step * float(g @ g) or step < 1e-10:
                break
            step *= 0.5
        theta, f0, g = cand, f1, g1
        lr = step * 2.0
        if float(np.abs(g).max()) < 1e-8:
            break
    coef = theta[1:] / sd
    intercept = float(theta[0] - (coef * mu).sum())
    return QualityTemperature(
        intercept=float(f"{intercept:.6g}"),
        sharpness=float(f"{coef[0]:.6g}"),
        contrast=float(f"{coef[1]:.6g}"),
        entropy=float(f"{coef[2]:.6g}"),
        t_min=t_min,
        t_max=t_max,
    )


def toml_table(described: dict[str, float]) -> str:
    """``{ intercept = ..., ... }`` of :meth:`QualityTemperature.describe`, as the manifest
    stores it."""
    return "{ " + ", ".join(f"{k} = {v!r}" for k, v in described.items()) + " }"


#: Factors ``calibrate.py --shares`` tries: 1.00 (the probabilities themselves) to 2.50.
SHARE_FACTORS = tuple(round(1.0 + 0.05 * k, 2) for k in range(31))


def share_factor_errors(
    probs: F64,
    votes: F64,
    conditions: npt.NDArray[np.str_],
    windows: npt.NDArray[np.int64],
    factors: tuple[float, ...] = SHARE_FACTORS,
) -> dict[str, dict[float, float]]:
    """Mean window share error (L1 to the crowd's vote shares) per condition and factor.

    ``probs`` are the faces' calibrated probabilities (what the classifier returns), one block
    of the same faces per condition in the order of ``conditions``; ``windows`` index into one
    block, so every condition is scored on the same windows of the same faces.
    """
    out: dict[str, dict[float, float]] = {}
    for cond in dict.fromkeys(conditions.tolist()):
        m = conditions == cond
        p, v = probs[m], votes[m]
        truth = v[windows].mean(axis=1)
        out[cond] = {}
        for f in factors:
            shares = soften(p, f)[windows].mean(axis=1)
            out[cond][f] = float(np.abs(shares - truth).sum(axis=1).mean())
    return out


def fit_share_factor(
    errors: dict[str, dict[float, float]], clean_weight: float = 13.0
) -> tuple[float, dict[float, float]]:
    """The factor with the least weighted mean share error (``clean:none`` weighs
    ``clean_weight``, every degraded condition 1, as in :func:`fit`), and that mean per factor.
    Ties go to the smaller factor (closer to the probabilities themselves)."""
    factors = next(iter(errors.values())).keys()
    weights = {c: clean_weight if c == "clean:none" else 1.0 for c in errors}
    total = sum(weights.values())
    mean = {f: sum(weights[c] * errors[c][f] for c in errors) / total for f in factors}
    best = min(factors, key=lambda f: (round(mean[f], 6), f))
    return best, mean
