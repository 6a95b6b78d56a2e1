"""Share softening (edge.aggregation.shares) and the aggregator's use of it; no models."""

from __future__ import annotations

import numpy as np
import pytest

from edge.aggregation import Aggregator
from edge.aggregation.shares import soften
from edge.types import EXPRESSIONS, TrackObservation, TrackUpdate


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def test_soften_is_temperature_scaling_by_the_factor() -> None:
    """Softening probabilities made at temperature T by a factor f gives exactly the
    probabilities at temperature T * f: the shares are the same model at a softer temperature
    (above the 1e-6 floor that the classifier also clips at)."""
    logits = np.random.default_rng(3).normal(0.0, 0.8, (50, 7))
    assert _softmax(logits / 0.5).min() > 1e-6
    for t, f in ((0.5, 1.25), (0.8, 2.0), (1.0, 0.7)):
        got = soften(_softmax(logits / t), f)
        np.testing.assert_allclose(got, _softmax(logits / (t * f)), atol=1e-9)


def test_soften_keeps_each_face_ranking_and_flattens_it() -> None:
    """A factor above 1 never changes which expression ranks first for a face, keeps every row a
    distribution, and raises its entropy; factor 1 returns the probabilities themselves."""
    p = _softmax(np.random.default_rng(5).normal(0.0, 2.0, (200, 7)))
    soft = soften(p, 1.4)
    assert (soft.argmax(axis=1) == p.argmax(axis=1)).all()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    entropy = lambda q: -(q * np.log(q)).sum(axis=1)  # noqa: E731
    assert (entropy(soft) > entropy(p)).all()
    np.testing.assert_allclose(soften(p, 1.0), p, atol=1e-12)


def _window(share_factor: float, faces: list[tuple[float, ...]]) -> dict[str, object]:
    agg = Aggregator(window_s=10, min_faces=1, min_seen_s=0, share_factor=share_factor)
    agg.start(0.0)
    for t in (1.0, 2.0):
        obs = tuple(TrackObservation(i, p, 1.0, t) for i, p in enumerate(faces))
        agg.observe(TrackUpdate(t, obs, ()), t)
    window = agg.poll(10.0)
    assert window is not None and window.expressions is not None
    return {
        "shares": np.array([window.expressions[k] for k in EXPRESSIONS]),
        "confidence": window.confidence,
        "counts": window.dominant_counts,
        "valence": window.valence,
    }


def test_window_shares_use_the_softened_profiles_and_confidence_does_not() -> None:
    """With a share factor the window's expressions are the mean of the faces' softened
    profiles (valence follows them), while confidence and dominant_counts stay on the calibrated
    probabilities, exactly as with factor 1."""
    faces = [
        tuple(_softmax(np.random.default_rng(i).normal(0.0, 2.0, 7)).tolist()) for i in range(4)
    ]
    plain, soft = _window(1.0, faces), _window(1.3, faces)
    expected = soften(np.array(faces), 1.3).mean(axis=0)
    np.testing.assert_allclose(soft["shares"], expected, atol=1e-9)
    np.testing.assert_allclose(plain["shares"], np.array(faces).mean(axis=0), atol=1e-9)
    assert not np.allclose(soft["shares"], plain["shares"], atol=1e-3)
    assert soft["confidence"] == pytest.approx(plain["confidence"])
    assert soft["counts"] == plain["counts"]
    assert soft["valence"] != pytest.approx(plain["valence"])
