"""Differential privacy: Laplace noise of the documented scale, sensitivity, k-anonymity kept.

The statistical tests draw many windows from a seeded generator and compare the empirical
noise with Laplace(0, b), b = sensitivity / epsilon_part: mean (standard error b*sqrt(2/N)),
mean absolute deviation (= b; standard error b/sqrt(N)), variance (= 2 b^2) and one tail
probability. Tolerances are 4-5 standard errors, so a correct mechanism fails with negligible
probability, and the seed makes every run identical anyway.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge.aggregation import Aggregator
from edge.aggregation.shares import soften
from edge.config.privacy import DpConfig
from edge.privacy.dp import (
    COUNTS_SENSITIVITY,
    SHARES_SENSITIVITY,
    DpBudget,
    LaplaceMechanism,
    capped_profiles,
    to_distribution,
)
from edge.publish.message import ModelIds, encode
from edge.publish.window import window_payload
from edge.types import EXPRESSIONS, TrackObservation, TrackUpdate, Window

N = 20_000
REPO_ROOT = Path(__file__).resolve().parents[3]
MODELS = ModelIds("det@0", "cls@0")


def exact_window(faces: int = 100, suppressed: bool = False) -> Window:
    counts = dict.fromkeys(EXPRESSIONS, 0) | {"happy": faces // 2, "neutral": faces - faces // 2}
    return Window(
        start_s=0.0,
        end_s=60.0,
        faces=faces,
        mean_faces_present=40.0,
        median_dwell_s=7.0,
        expressions=None if suppressed else dict.fromkeys(EXPRESSIONS, 1 / 7),
        dominant=None if suppressed else "happy",
        dominant_counts=None if suppressed else counts,
        valence=None if suppressed else 0.1,
        confidence=None if suppressed else 0.8,
        frames=600,
        suppressed=suppressed,
        partial=False,
    )


def laplace_figures(noise: npt.NDArray[np.float64], b: float) -> dict[str, float]:
    """Empirical mean, scale (mean |x|), variance / 2 and tail share beyond b*ln(10)."""
    return {
        "mean": float(noise.mean()),
        "scale": float(np.abs(noise).mean()),
        "half_variance_sqrt": float(math.sqrt(noise.var() / 2.0)),
        "tail": float((np.abs(noise) > b * math.log(10)).mean()),
    }


def assert_laplace(noise: npt.NDArray[np.float64], b: float) -> dict[str, float]:
    n = noise.size
    figures = laplace_figures(noise, b)
    assert abs(figures["mean"]) < 4.5 * b * math.sqrt(2.0 / n), figures
    assert abs(figures["scale"] - b) < 4.5 * b / math.sqrt(n), figures
    assert abs(figures["half_variance_sqrt"] - b) < 0.03 * b, figures
    assert abs(figures["tail"] - 0.1) < 4.5 * math.sqrt(0.09 / n), figures
    return figures


def test_budget_split_and_scales() -> None:
    """b_counts = 3 / (epsilon * f) and b_shares = 1 / (epsilon * (1 - f)); they add up to eps."""
    budget = DpBudget(epsilon=2.0, counts_fraction=0.25)
    assert budget.counts_epsilon + budget.shares_epsilon == pytest.approx(2.0)
    assert budget.counts_scale == pytest.approx(COUNTS_SENSITIVITY / 0.5)
    assert budget.shares_scale == pytest.approx(SHARES_SENSITIVITY / 1.5)
    assert DpBudget.from_config(DpConfig()) is None
    assert LaplaceMechanism.from_config(DpConfig()) is None


def test_count_noise_is_laplace_with_documented_scale() -> None:
    """Over 20 000 windows, faces - exact has mean ~0 and Laplace scale 3/(eps*f) = 6."""
    mech = LaplaceMechanism(DpBudget(1.0, 0.5), np.random.default_rng(7))
    b = mech.budget.counts_scale
    assert b == pytest.approx(6.0)
    exact = np.concatenate([[100.0, 40.0], np.full(7, 50.0)])
    rng = np.random.default_rng(8)
    raw = np.stack([mech.noisy_counts(exact, rng) for _ in range(N)]) - exact
    for column in range(raw.shape[1]):
        assert_laplace(raw[:, column], b)
    # the published (rounded, clipped) faces keep mean ~0; rounding adds ~1/12 to the variance
    window, profiles = exact_window(), _profiles(100)
    faces = np.array([mech.release(window, profiles).faces for _ in range(N)], dtype=float)
    assert abs(faces.mean() - 100.0) < 4.5 * b * math.sqrt(2.0 / N)
    assert abs(np.abs(faces - 100.0).mean() - b) < 0.03 * b


def _profiles(n: int, seed: int = 3) -> npt.NDArray[np.float64]:
    rows = np.random.default_rng(seed).dirichlet(np.ones(len(EXPRESSIONS)), size=n)
    return np.asarray(rows, dtype=np.float64)


def test_share_noise_is_laplace_with_documented_scale() -> None:
    """The per-expression sums get Laplace noise of scale 1/(eps*(1-f)) = 2, mean ~0."""
    mech = LaplaceMechanism(DpBudget(1.0, 0.5), np.random.default_rng(11))
    b = mech.budget.shares_scale
    assert b == pytest.approx(2.0)
    profiles = _profiles(100)
    exact = capped_profiles(profiles).sum(axis=0)
    rng = np.random.default_rng(12)
    raw = np.stack([mech.noisy_sums(profiles, rng) for _ in range(N)]) - exact
    for column in range(raw.shape[1]):
        assert_laplace(raw[:, column], b)


def test_one_track_moves_counts_by_at_most_three_and_sums_by_one() -> None:
    """The sensitivities the noise is calibrated to hold: adding one track (any profile, any
    time seen) changes (faces, mean_faces_present, dominant_counts) by <= 3 in L1 and the
    capped expression sums by exactly 1."""
    rng = np.random.default_rng(5)
    for _trial in range(200):
        base_tracks = int(rng.integers(0, 6))
        frames = int(rng.integers(1, 20))
        profiles = _profiles(base_tracks + 1, seed=int(rng.integers(1 << 30)))
        seen_from = int(rng.integers(0, frames))
        windows = []
        for with_extra in (False, True):
            agg = Aggregator(window_s=100, min_faces=1, min_seen_s=0)
            agg.start(0.0)
            for f in range(frames):
                obs = [TrackObservation(i, tuple(profiles[i]), 1.0 if f else 0.0, float(f))
                       for i in range(base_tracks)]
                if with_extra and f >= seen_from:
                    extra = tuple(profiles[base_tracks])
                    obs.append(TrackObservation(99, extra, 1.0 if f > seen_from else 0.0,
                                                float(f - seen_from)))
                agg.observe(TrackUpdate(float(f), tuple(obs), ()), float(f))
            window = agg.flush(float(frames))
            assert window is not None
            windows.append(window)
        a, b = windows
        counts = [(w.dominant_counts or dict.fromkeys(EXPRESSIONS, 0)) for w in windows]
        l1 = abs(a.faces - b.faces) + abs(a.mean_faces_present - b.mean_faces_present)
        l1 += sum(abs(counts[0][k] - counts[1][k]) for k in EXPRESSIONS)
        assert l1 <= COUNTS_SENSITIVITY + 1e-9
        with_sum = capped_profiles(profiles).sum(axis=0)
        without_sum = capped_profiles(profiles[:base_tracks]).sum(axis=0)
        assert np.abs(with_sum - without_sum).sum() == pytest.approx(SHARES_SENSITIVITY)


def test_capping_and_normalising() -> None:
    """Profiles are clipped at 0 and scaled to sum 1; noisy sums become a valid distribution."""
    capped = capped_profiles(np.array([[2.0, -1.0, 0, 0, 0, 0, 2.0], [0.0] * 7]))
    assert capped.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert capped[0, 1] == 0 and capped[1, 0] == pytest.approx(1 / 7)
    shares = to_distribution(np.array([3.0, -2.0, 1.0, 0, 0, 0, 0]))
    assert shares == pytest.approx([0.75, 0, 0.25, 0, 0, 0, 0])
    assert to_distribution(np.full(7, -1.0)) == pytest.approx(np.full(7, 1 / 7))


def test_released_window_is_valid_and_states_epsilon(validate_payload: Any) -> None:
    """A DP window has shares summing to 1, integer counts >= 0, no dwell or confidence,
    `dp: {epsilon, counts_scale, shares_scale}`, and validates against the schema."""
    mech = LaplaceMechanism(DpBudget(0.5, 0.5), np.random.default_rng(1))
    for faces in (3, 10, 100):
        released = mech.release(exact_window(faces), _profiles(faces))
        assert released.expressions is not None
        assert sum(released.expressions.values()) == pytest.approx(1.0)
        assert min(released.expressions.values()) >= 0
        assert released.dominant == max(released.expressions, key=released.expressions.__getitem__)
        assert released.median_dwell_s is None and released.confidence is None
        assert released.faces >= 0 and isinstance(released.faces, int)
        doc = json.loads(encode(window_payload(released, seq=1, device_id="d", models=MODELS)))
        assert doc["dp"] == {"epsilon": 0.5, "counts_scale": 12.0, "shares_scale": 4.0}
        validate_payload(doc)


def test_suppressed_window_stays_suppressed_under_dp(validate_payload: Any) -> None:
    """k-anonymity is decided on the exact count: a suppressed window gets noisy counts only,
    never shares, whatever the noise; the schema accepts it with `dp`."""
    mech = LaplaceMechanism(DpBudget(1.0, 0.5), np.random.default_rng(2))
    for _ in range(200):
        released = mech.release(exact_window(2, suppressed=True), None)
        assert released.suppressed
        assert released.expressions is None and released.dominant_counts is None
        assert released.valence is None and released.dominant is None
        doc = json.loads(encode(window_payload(released, seq=1, device_id="d", models=MODELS)))
        validate_payload(doc)


def test_aggregator_applies_dp_after_k_anonymity() -> None:
    """In the aggregator, windows under k stay suppressed and windows at k get noisy shares;
    the same seed gives the same windows (noise is injectable and reproducible)."""

    def run(seed: int, tracks: int) -> Window:
        mech = LaplaceMechanism(DpBudget(1.0, 0.5), np.random.default_rng(seed))
        agg = Aggregator(window_s=10, min_faces=3, min_seen_s=0, dp=mech)
        agg.start(0.0)
        for t in (1.0, 2.0):
            obs = tuple(TrackObservation(i, tuple(_profiles(tracks)[i]), t - 1, t - 1)
                        for i in range(tracks))
            agg.observe(TrackUpdate(t, obs, ()), t)
        window = agg.poll(10.0)
        assert window is not None
        return window

    assert run(4, 2).suppressed and run(4, 2).expressions is None
    published = run(4, 3)
    assert not published.suppressed and published.expressions is not None
    assert published.dp is not None and published.dp.epsilon == 1.0
    assert run(4, 3) == published
    assert replace(run(5, 3), dp=None) != replace(published, dp=None)


def test_default_generator_is_fresh_per_window() -> None:
    """Without an injected generator every window draws fresh OS-seeded noise."""
    mech = LaplaceMechanism(DpBudget(1.0, 0.5))
    draws = {mech.release(exact_window(), _profiles(100)).mean_faces_present for _ in range(5)}
    assert len(draws) == 5


def test_dp_shares_use_the_softened_profiles() -> None:
    """With DP on, the noisy expression sums are taken over the track profiles softened by the
    aggregator's share factor, as the exact shares are: with a budget so large that the noise
    vanishes, the released shares equal the unweighted mean of the softened profiles (not of
    the profiles themselves), and confidence is withheld."""
    profiles = _profiles(5)
    mech = LaplaceMechanism(DpBudget(1e9, 0.5), np.random.default_rng(1))
    agg = Aggregator(window_s=10, min_faces=1, min_seen_s=0, dp=mech, share_factor=1.3)
    agg.start(0.0)
    for t in (1.0, 2.0):
        obs = tuple(TrackObservation(i, tuple(profiles[i]), 1.0, t) for i in range(5))
        agg.observe(TrackUpdate(t, obs, ()), t)
    window = agg.poll(10.0)
    assert window is not None and window.expressions is not None and window.confidence is None
    released = np.array([window.expressions[k] for k in EXPRESSIONS])
    np.testing.assert_allclose(released, soften(profiles, 1.3).mean(axis=0), atol=1e-6)
    assert not np.allclose(released, profiles.mean(axis=0), atol=1e-3)
