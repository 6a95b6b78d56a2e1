"""Share error: how far a window's expression shares are from the truth (issue 21; pure numpy).

The product publishes, per window, the mean of its faces' probabilities, softened by the
model's share temperature factor (``expressions``; ``edge.aggregation.shares``: the suite passes
the softened probabilities here). To score that, the suite builds synthetic windows:
``n_windows`` random sets of ``window_faces`` distinct faces of the evaluation set (one fixed
seed, so every condition and every model sees the same windows). For each window

    predicted shares = mean of the faces' probability vectors (as the aggregation does),
    true shares      = mean of the faces' truth vectors,

and the **share error** is the L1 distance ``sum_k |predicted_k - true_k|`` (0 = exact, 2 =
disjoint), averaged over the windows. The truth vector of a face is its one-hot label
(``truth = "labels"``) or its crowd vote distribution (``truth = "votes"``, FER+ layout).

Reference: the same error for a constant guess, the set's mean truth vector (the label prior,
or the mean vote distribution), which knows the set's class balance but looks at no face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ShareError:
    """Mean and 90th percentile of the window L1 share error, and the constant-guess reference."""

    windows: int
    window_faces: int
    mean_l1: float
    p90_l1: float
    prior_mean_l1: float

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready fields."""
        return {
            "windows": self.windows,
            "window_faces": self.window_faces,
            "mean_l1": self.mean_l1,
            "p90_l1": self.p90_l1,
            "prior_mean_l1": self.prior_mean_l1,
        }


def window_indices(n: int, window_faces: int, windows: int, seed: int) -> IntArray:
    """``windows x window_faces`` row indices into a set of ``n`` faces, distinct per window.

    Raises ``ValueError`` when the set has fewer than ``window_faces`` faces.
    """
    if window_faces < 1 or windows < 1:
        raise ValueError("window_faces and windows must be >= 1")
    if n < window_faces:
        raise ValueError(f"{n} faces cannot fill a window of {window_faces}")
    rng = np.random.default_rng(seed)
    rows = [rng.choice(n, size=window_faces, replace=False) for _ in range(windows)]
    return np.asarray(rows, dtype=np.int64)


def one_hot(labels: npt.ArrayLike, n_classes: int) -> FloatArray:
    """Rows of the identity for integer labels ``0 .. n_classes-1``."""
    out: FloatArray = np.eye(n_classes, dtype=np.float64)[np.asarray(labels, dtype=np.int64)]
    return out


def share_errors(probs: npt.ArrayLike, truth: npt.ArrayLike, windows: IntArray) -> FloatArray:
    """L1 between the mean predicted and the mean true vector of every window (one per row)."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"probs {p.shape} and truth {t.shape} differ in shape")
    diff = p[windows].mean(axis=1) - t[windows].mean(axis=1)
    out: FloatArray = np.abs(diff).sum(axis=1)
    return out


def share_error(probs: npt.ArrayLike, truth: npt.ArrayLike, windows: IntArray) -> ShareError:
    """:class:`ShareError` of ``probs`` against ``truth`` over ``windows``; the reference guesses
    ``truth.mean(axis=0)`` for every face."""
    t = np.asarray(truth, dtype=np.float64)
    errors = share_errors(probs, t, windows)
    prior = np.broadcast_to(t.mean(axis=0), t.shape)
    return ShareError(
        windows=int(windows.shape[0]),
        window_faces=int(windows.shape[1]),
        mean_l1=float(errors.mean()),
        p90_l1=float(np.quantile(errors, 0.9)),
        prior_mean_l1=float(share_errors(prior, t, windows).mean()),
    )
