"""Differential privacy of one window's numbers: the Laplace mechanism, per window, per track.

Unit of privacy: one face track in one window (two windows are neighbours when one has an
extra track and every other track is the same). Each track's contribution is capped:

* counts vector ``(faces, mean_faces_present, dominant_counts[7])``: one track changes
  ``faces`` by 1, ``mean_faces_present`` (sum over tracks of frames seen / frames analysed)
  by at most 1, and exactly one ``dominant_counts`` bin by 1, so its L1 sensitivity is
  :data:`COUNTS_SENSITIVITY` = 3;
* expression sums ``S = sum_i p_i``, where ``p_i`` is track i's expression profile (softened by
  the share temperature factor, as for ``expressions``) clipped at 0 and normalised to sum to 1,
  so one track changes ``S`` by at most 1 in L1 (:data:`SHARES_SENSITIVITY`). Under DP every
  track weighs the same (without DP the shares are weighted by time seen, whose sensitivity is
  unbounded).

Laplace noise of scale ``b = sensitivity / epsilon_part`` on every coordinate makes each
vector ``epsilon_part``-DP; ``epsilon = epsilon_counts + epsilon_shares`` by sequential
composition, split by ``privacy.dp.counts_fraction``. Rounding, clipping at 0,
re-normalising the shares, ``dominant`` and ``valence`` (computed from the noisy shares) are
post-processing and cost nothing. ``median_dwell_s`` (unbounded sensitivity) and
``confidence`` are withheld (null). The ``suppressed`` flag stays exact, as k-anonymity
requires, and is not covered by epsilon. Budgets add up over windows: docs/privacy.md.

Pure: randomness comes from an injected :class:`numpy.random.Generator`; without one, every
window draws from a generator freshly seeded from the OS, so no generator state spans windows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.config.privacy import DpConfig
from edge.types import EXPRESSIONS, VALENCE_WEIGHTS, DpStatement, Window

#: L1 sensitivity of (faces, mean_faces_present, dominant_counts) to one track.
COUNTS_SENSITIVITY = 3.0
#: L1 sensitivity of the per-expression sums to one track (a probability vector).
SHARES_SENSITIVITY = 1.0

FloatVector = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DpBudget:
    """Epsilon per window and how it is split between the counts and the shares."""

    epsilon: float
    counts_fraction: float

    @classmethod
    def from_config(cls, config: DpConfig) -> DpBudget | None:
        if config.epsilon is None:
            return None
        return cls(config.epsilon, config.counts_fraction)

    @property
    def counts_epsilon(self) -> float:
        return self.epsilon * self.counts_fraction

    @property
    def shares_epsilon(self) -> float:
        return self.epsilon - self.counts_epsilon

    @property
    def counts_scale(self) -> float:
        """Laplace scale b of the noise on each count."""
        return COUNTS_SENSITIVITY / self.counts_epsilon

    @property
    def shares_scale(self) -> float:
        """Laplace scale b of the noise on each per-expression sum."""
        return SHARES_SENSITIVITY / self.shares_epsilon

    def statement(self) -> DpStatement:
        return DpStatement(self.epsilon, self.counts_scale, self.shares_scale)


def capped_profiles(profiles: FloatVector) -> FloatVector:
    """Each row clipped at 0 and scaled to sum to 1 (a zero row becomes uniform)."""
    clipped = np.clip(np.asarray(profiles, dtype=np.float64), 0.0, None)
    sums = clipped.sum(axis=1, keepdims=True)
    uniform = np.full_like(clipped, 1.0 / clipped.shape[1]) if clipped.size else clipped
    return np.where(sums > 0, clipped / np.where(sums > 0, sums, 1.0), uniform)


def to_distribution(noisy_sums: FloatVector) -> FloatVector:
    """Noisy per-expression sums -> shares: clipped at 0, summing to 1 (uniform if all <= 0)."""
    clipped = np.clip(noisy_sums, 0.0, None)
    total = clipped.sum()
    if total <= 0:
        return np.full_like(clipped, 1.0 / len(clipped))
    return np.asarray(clipped / total, dtype=np.float64)


class LaplaceMechanism:
    """Adds calibrated Laplace noise to a closed window (see the module docstring)."""

    def __init__(self, budget: DpBudget, rng: np.random.Generator | None = None) -> None:
        self.budget = budget
        self._rng = rng
        self._valence = np.array([VALENCE_WEIGHTS[k] for k in EXPRESSIONS])

    @classmethod
    def from_config(
        cls, config: DpConfig, rng: np.random.Generator | None = None
    ) -> LaplaceMechanism | None:
        budget = DpBudget.from_config(config)
        return None if budget is None else cls(budget, rng)

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else np.random.default_rng()

    def noisy_counts(self, exact: FloatVector, rng: np.random.Generator) -> FloatVector:
        """``exact`` (faces, mean_faces_present, 7 dominant counts) plus Laplace(b_counts)."""
        return exact + rng.laplace(0.0, self.budget.counts_scale, size=exact.shape)

    def noisy_sums(self, profiles: FloatVector, rng: np.random.Generator) -> FloatVector:
        """Sum of the capped track profiles plus Laplace(b_shares) on each expression."""
        sums = capped_profiles(profiles).sum(axis=0)
        return np.asarray(sums + rng.laplace(0.0, self.budget.shares_scale, size=sums.shape))

    def release(self, window: Window, profiles: FloatVector | None) -> Window:
        """The window with noisy numbers; ``profiles`` (tracks x 7, softened by the share
        temperature factor as for ``expressions``) is None when suppressed."""
        rng = self._generator()
        counts = np.zeros(len(EXPRESSIONS))
        if window.dominant_counts is not None:
            counts = np.array([window.dominant_counts[k] for k in EXPRESSIONS], dtype=np.float64)
        exact = np.concatenate([[float(window.faces), window.mean_faces_present], counts])
        noisy = self.noisy_counts(exact, rng)
        released = replace(
            window,
            faces=max(0, int(np.rint(noisy[0]))),
            mean_faces_present=max(0.0, float(noisy[1])),
            median_dwell_s=None,
            confidence=None,
            dp=self.budget.statement(),
        )
        if window.suppressed or profiles is None or window.dominant_counts is None:
            return replace(
                released, expressions=None, dominant=None, dominant_counts=None, valence=None
            )
        shares = to_distribution(self.noisy_sums(profiles, rng))
        return replace(
            released,
            expressions={k: float(v) for k, v in zip(EXPRESSIONS, shares, strict=True)},
            dominant=EXPRESSIONS[int(np.argmax(shares))],
            dominant_counts={
                k: max(0, int(np.rint(v))) for k, v in zip(EXPRESSIONS, noisy[2:], strict=True)
            },
            valence=float(np.clip(shares @ self._valence, -1.0, 1.0)),
        )
