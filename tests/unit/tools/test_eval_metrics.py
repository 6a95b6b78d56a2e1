"""Metric functions of `edge eval` against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from edge.tools.eval import metrics


def test_confusion_matrix_rows_are_true_columns_predicted() -> None:
    """Each (true, predicted) pair adds one count at [true, predicted]."""
    cm = metrics.confusion_matrix([0, 0, 0, 1, 1], [0, 0, 1, 1, 2], 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 0]]


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    """A label outside 0..n-1 is an error, not a silent drop."""
    with pytest.raises(ValueError, match=r"0\.\.2"):
        metrics.confusion_matrix([0, 3], [0, 1], 3)


def test_class_absent_from_data_is_excluded_from_macro_f1() -> None:
    """With class 2 absent from the data but predicted once: class 0 has P=1, R=2/3, F1=0.8;
    class 1 has P=R=F1=0.5; class 2 has support 0, precision 0 (its one prediction is wrong),
    no recall or F1; macro-F1 = (0.8 + 0.5) / 2 = 0.65 and top-1 = 3/5."""
    cm = metrics.confusion_matrix([0, 0, 0, 1, 1], [0, 0, 1, 1, 2], 3)
    a, b, c = metrics.class_scores(cm)
    assert (a.precision, a.recall, a.support, a.predicted) == (1.0, pytest.approx(2 / 3), 3, 2)
    assert a.f1 == pytest.approx(0.8)
    assert (b.precision, b.recall, b.f1, b.support) == (0.5, 0.5, 0.5, 2)
    assert (c.precision, c.recall, c.f1, c.support, c.predicted) == (0.0, None, None, 0, 1)
    assert metrics.macro_f1(cm) == pytest.approx(0.65)
    assert metrics.top1(cm) == pytest.approx(0.6)


def test_class_absent_and_never_predicted_has_no_precision() -> None:
    """A class with neither samples nor predictions has every score undefined (None)."""
    cm = metrics.confusion_matrix([0, 1], [0, 1], 3)
    assert metrics.class_scores(cm)[2] == metrics.ClassScores(None, None, None, 0, 0)
    assert metrics.macro_f1(cm) == 1.0


def test_class_present_but_never_predicted_counts_as_zero_f1() -> None:
    """A present class the model never predicts has P=R=F1=0 and pulls macro-F1 down:
    class 0 P=0.5, R=1, F1=2/3; class 1 F1=0; macro-F1 = 1/3."""
    cm = metrics.confusion_matrix([0, 1], [0, 0], 2)
    zero = metrics.class_scores(cm)[1]
    assert (zero.precision, zero.recall, zero.f1) == (0.0, 0.0, 0.0)
    assert metrics.macro_f1(cm) == pytest.approx(1 / 3)


def test_ece_hand_computed_two_bins() -> None:
    """Bins (0, .5] and (.5, 1]: one sample at confidence .5 (correct) -> |1 - .5| x 1/4;
    three at .9/.8/.7 with 2 correct -> |2/3 - .8| x 3/4; ECE = 0.125 + 0.1 = 0.225."""
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 0])
    assert metrics.expected_calibration_error(probs, labels, 2) == pytest.approx(0.225)
    low, high = metrics.reliability_bins(probs, labels, 2)
    assert (low.count, low.accuracy, low.confidence) == (1, 1.0, 0.5)
    assert (high.count, high.accuracy) == (3, pytest.approx(2 / 3))
    assert high.confidence == pytest.approx(0.8)


def test_ece_is_zero_when_confidence_equals_accuracy() -> None:
    """Confidence 0.75 everywhere with 3 of 4 correct is perfectly calibrated (15 bins)."""
    probs = np.tile([0.75, 0.25], (4, 1))
    assert metrics.expected_calibration_error(probs, [0, 0, 0, 1]) == pytest.approx(0.0)


def test_apply_temperature_matches_power_rule() -> None:
    """T=2 turns p=(0.8, 0.2) into sqrt-proportional (2/3, 1/3); T=1 leaves it alone."""
    lp = np.log([[0.8, 0.2]])
    assert metrics.apply_temperature(lp, 2.0)[0] == pytest.approx([2 / 3, 1 / 3])
    assert metrics.apply_temperature(lp, 1.0)[0] == pytest.approx([0.8, 0.2])


def test_nll_hand_computed() -> None:
    """NLL of labels (0, 1) under p=(0.8, 0.2) twice is -(log 0.8 + log 0.2) / 2."""
    lp = np.log([[0.8, 0.2], [0.8, 0.2]])
    assert metrics.nll(lp, [0, 1]) == pytest.approx(-(np.log(0.8) + np.log(0.2)) / 2)


def _synthetic(sharpen: float, n: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the 'model' reports log-softmax(z * sharpen)."""
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 1.5, size=(n, 5))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    zs = z * sharpen
    return zs - np.log(np.exp(zs).sum(axis=1, keepdims=True)), labels


@pytest.mark.parametrize("sharpen", [1.0, 2.5, 0.5])
def test_fit_temperature_recovers_known_temperature(sharpen: float) -> None:
    """A model over-confident by factor s (log-probs scaled by s) gets T ~= s back (5 %), and
    the fitted T has lower NLL than T=1 and than 10 % either side."""
    log_probs, labels = _synthetic(sharpen)
    t = metrics.fit_temperature(log_probs, labels)
    assert t == pytest.approx(sharpen, rel=0.05)
    best = metrics.nll(log_probs, labels, t)
    for other in (1.0, t * 0.9, t * 1.1):
        assert best <= metrics.nll(log_probs, labels, other) + 1e-12


def test_fit_temperature_rejects_mismatched_input() -> None:
    """Log-probs and labels of different lengths are an error."""
    with pytest.raises(ValueError, match="N x C"):
        metrics.fit_temperature(np.zeros((3, 2)), np.zeros(2, dtype=int))
