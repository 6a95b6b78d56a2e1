"""Unit tests of the window share error (edge/tools/eval/shares.py) and the suite's pure parts."""

from __future__ import annotations

import numpy as np
import pytest

from edge.tools.eval.cli import FAMILY_NAMES
from edge.tools.eval.conditions import FAMILIES
from edge.tools.eval.shares import one_hot, share_error, share_errors, window_indices
from edge.tools.eval.suite import subtle_mask

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_share_error_matches_a_hand_computed_answer() -> None:
    """Three faces, two classes, windows {0,1} and {0,2}:
    window {0,1}: predicted shares (0.75, 0.25), true (1, 0) -> L1 0.5;
    window {0,2}: predicted (0.5, 0.5), true (0.5, 0.5) -> L1 0.
    Mean 0.25, 90th percentile 0.45. Constant guess = mean truth (2/3, 1/3): L1 2/3 and 1/3,
    mean 0.5."""
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    truth = one_hot([0, 0, 1], 2)
    windows = np.array([[0, 1], [0, 2]])
    assert share_errors(probs, truth, windows) == pytest.approx([0.5, 0.0])
    err = share_error(probs, truth, windows)
    assert (err.windows, err.window_faces) == (2, 2)
    assert err.mean_l1 == pytest.approx(0.25)
    assert err.p90_l1 == pytest.approx(0.45)
    assert err.prior_mean_l1 == pytest.approx(0.5)


def test_share_error_against_vote_shares() -> None:
    """Truth may be soft (crowd vote shares): a model that outputs exactly the votes scores 0,
    and one that is sure of the plurality scores the mass the votes put elsewhere, twice."""
    votes = np.array([[0.6, 0.4], [0.8, 0.2], [0.3, 0.7]])
    windows = np.array([[0, 1, 2]])
    assert share_error(votes, votes, windows).mean_l1 == pytest.approx(0.0)
    sure = one_hot(votes.argmax(axis=1), 2)  # (1,0), (1,0), (0,1): mean (2/3, 1/3)
    # true mean (1.7/3, 1.3/3): L1 = 2 * |2/3 - 1.7/3| = 0.2
    assert share_error(sure, votes, windows).mean_l1 == pytest.approx(0.2)


def test_window_indices_are_seeded_distinct_and_checked() -> None:
    """Windows hold distinct faces, repeat for the same seed, and a set smaller than one window
    is refused with a message."""
    a = window_indices(50, 20, 30, seed=3)
    assert a.shape == (30, 20)
    assert all(len(set(row.tolist())) == 20 for row in a)
    assert np.array_equal(a, window_indices(50, 20, 30, seed=3))
    assert not np.array_equal(a, window_indices(50, 20, 30, seed=4))
    with pytest.raises(ValueError, match="cannot fill a window of 20"):
        window_indices(19, 20, 1, seed=0)
    with pytest.raises(ValueError, match="differ in shape"):
        share_errors(np.zeros((3, 2)), np.zeros((3, 3)), np.array([[0, 1]]))


def test_subtle_rule() -> None:
    """A face is subtle when neutral and one expression each hold >= 30 % of the votes and
    together >= 80 %; the expression reported is the most-voted non-neutral label."""
    def shares(**kw: float) -> list[float]:
        return [kw.get(label, 0.0) for label in LABELS]

    votes = np.array(
        [
            shares(neutral=0.4, happy=0.4, sad=0.2),  # subtle, happy
            shares(neutral=0.3, surprise=0.5, fear=0.2),  # subtle, surprise
            shares(neutral=0.2, happy=0.8),  # neutral too weak
            shares(neutral=0.4, sad=0.3, angry=0.3),  # pair only 0.7
            shares(neutral=1.0),  # no expression
            [np.nan] * 7,  # no usable vote
        ]
    )
    mask, expression = subtle_mask(votes, LABELS)
    assert mask.tolist() == [True, True, False, False, False, False]
    assert [LABELS[k] for k in expression[:2]] == ["happy", "surprise"]


def test_cli_family_names_match_the_registry() -> None:
    """The --conditions help lists exactly the families conditions.py defines."""
    assert tuple(FAMILIES) == FAMILY_NAMES
