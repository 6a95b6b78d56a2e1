"""The per-face quality temperature: manifest table, crop features, the fit (issue 21)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

from edge.inference.quality import (
    QualityFeatures,
    QualityTemperature,
    entropy,
    temperatures,
)
from tests.scriptmodule import load_script

GOOD = {"intercept": -0.5, "sharpness": -0.1, "contrast": -0.05, "entropy": 0.3}


def _fit_module() -> ModuleType:
    return load_script("models/quality_fit.py", "quality_fit")


def test_manifest_table_round_trips_with_default_limits() -> None:
    """A table with the four coefficients parses; min and max default to 0.2 and 5."""
    model = QualityTemperature.from_manifest("temperature_quality", GOOD)
    assert model.describe() == {**GOOD, "min": 0.2, "max": 5.0}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (0.5, r"temperature_quality must be a table \{ intercept = <number>"),
        ({k: v for k, v in GOOD.items() if k != "entropy"}, r"temperature_quality\.entropy is "
         r"missing; rerun models/calibrate.py --quality --write"),
        ({**GOOD, "sharpnes": 1.0}, r"unknown key\(s\) sharpnes; use intercept, sharpness"),
        ({**GOOD, "contrast": "high"}, r"temperature_quality\.contrast = 'high' must be a number"),
        ({**GOOD, "contrast": True}, r"temperature_quality\.contrast = True must be a number"),
        ({**GOOD, "intercept": float("nan")}, r"intercept = nan must be finite"),
        ({**GOOD, "min": 2.0, "max": 1.0}, r"min = 2.0 and max = 1.0 need 0 < min <= max"),
        ({**GOOD, "min": 0}, r"min = 0.0 and max = 5.0 need 0 < min <= max"),
    ],
)  # fmt: skip
def test_a_bad_table_names_the_key_and_the_fix(raw: Any, message: str) -> None:
    """Every malformed table is refused with the key, what is wrong and how to fix it."""
    with pytest.raises(ValueError, match=message):
        QualityTemperature.from_manifest("temperature_quality", raw)


def _face() -> np.ndarray:
    rng = np.random.default_rng(5)
    base = cv2.resize(rng.integers(0, 256, (12, 12), dtype=np.uint8), (48, 48))
    edges = (np.indices((48, 48)).sum(axis=0) % 8 < 4).astype(np.uint8) * 60
    return np.asarray(np.clip(base.astype(int) // 2 + edges + 40, 0, 255), dtype=np.uint8)


def test_blur_lowers_sharpness_and_darkness_lowers_contrast() -> None:
    """The features move the way the temperature needs them to: a blurred copy of a crop has a
    lower sharpness s, a darker (scaled-down) copy a lower contrast c."""
    face = _face()
    blurred = cv2.GaussianBlur(face, (0, 0), 1.5)
    dark = (face * 0.3).astype(np.uint8)
    feats = QualityFeatures(48).crop_features(np.stack([face, blurred, dark]))
    assert feats[1, 0] < feats[0, 0] - 0.3
    assert feats[2, 1] < feats[0, 1] - 0.8
    std = float(face.std())
    lap = float(np.abs(cv2.Laplacian(face, cv2.CV_32F, ksize=1)).mean())
    assert feats[0] == pytest.approx([np.log((lap + 1) / (std + 1)), np.log(std + 1)])


def test_temperature_follows_the_formula_and_is_clipped() -> None:
    """T = exp(intercept + sharpness*s + contrast*c + entropy*h), held inside [min, max]."""
    model = QualityTemperature(0.1, -0.5, 0.2, 1.0, t_min=0.5, t_max=2.0)
    feats = np.array([[0.0, 1.0], [-3.0, 0.0], [2.0, 0.0]])
    probs = np.array([[1 / 7] * 7, [1.0, 0, 0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0, 0]])
    h = entropy(probs)
    assert h[0] == pytest.approx(np.log(7)) and h[1] == pytest.approx(0.0, abs=1e-4)
    got = temperatures(model, feats, probs)
    assert got[0] == pytest.approx(min(np.exp(0.1 + 0.2 + np.log(7)), 2.0))
    assert got[1] == pytest.approx(2.0)  # exp(1.6) clipped to max
    assert got[2] == pytest.approx(0.5)  # exp(-0.9) clipped to min


def test_fit_recovers_a_temperature_that_depends_on_sharpness() -> None:
    """On labels drawn from softmax(logits / T(s)) with a known log T = -0.4 - 0.6 s, the fit
    finds those coefficients (and about 0 for the features that play no part)."""
    fit = _fit_module()
    rng = np.random.default_rng(11)
    n = 20000
    feats = np.stack([rng.normal(0, 1, n), rng.normal(3, 0.5, n)], axis=1)
    logits = rng.normal(0, 1.2, (n, 7))
    true_t = np.exp(-0.4 - 0.6 * feats[:, 0])
    p = np.exp(logits / true_t[:, None])
    p /= p.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=row) for row in p])
    base = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    lp = np.log(np.maximum(base, 1e-6))
    data = fit.QualitySet(
        features=np.concatenate([feats, entropy(base)[:, None]], axis=1),
        log_probs=lp,
        labels=labels,
        weights=np.ones(n),
        conditions=np.array(["x"] * n),
    )
    model = fit.fit(data)
    assert model.sharpness == pytest.approx(-0.6, abs=0.08)
    assert model.intercept == pytest.approx(-0.4, abs=0.25)
    assert abs(model.contrast) < 0.1
    assert fit.toml_table(model.describe()).startswith("{ intercept = ")


def test_share_factor_fit_finds_how_much_softer_the_crowd_is() -> None:
    """When the crowd's vote shares are the model's own probabilities at 1.5 times its
    temperature, the share factor fit (least window share error to the votes, clean weighted
    13 to 1 against a degraded block) picks 1.5 from its grid, and its error there is below the
    error of the probabilities themselves (factor 1)."""
    fit = _fit_module()
    rng = np.random.default_rng(4)
    n = 3000
    logits = rng.normal(0, 1.5, (n, 7)) + np.array([0.0, -1.0, -0.5, 0.8, 0.2, 0.1, 1.0])
    model = np.exp(logits / 0.6)
    model /= model.sum(axis=1, keepdims=True)
    crowd = np.exp(logits / 0.9)
    crowd /= crowd.sum(axis=1, keepdims=True)
    probs = np.concatenate([model, model])
    votes = np.concatenate([crowd, crowd])
    conditions = np.array(["clean:none"] * n + ["blur:mild"] * n)
    windows = np.array([rng.choice(n, 20, replace=False) for _ in range(300)])
    errors = fit.share_factor_errors(probs, votes, conditions, windows)
    assert set(errors) == {"clean:none", "blur:mild"}
    factor, mean = fit.fit_share_factor(errors)
    assert factor == 1.5
    assert mean[1.5] < mean[1.0] and errors["clean:none"][1.5] < 1e-3
