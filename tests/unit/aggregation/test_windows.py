"""Aggregator: window boundaries, k-anonymity, time-weighted shares; time injected, no sleeps."""

from __future__ import annotations

import pytest

from edge.aggregation import Aggregator
from edge.types import EXPRESSIONS, TrackObservation, TrackUpdate


def probs(**kw: float) -> tuple[float, ...]:
    return tuple(kw.get(k, 0.0) for k in EXPRESSIONS)


HAPPY = probs(happy=1.0)
SAD = probs(sad=1.0)
NEUTRAL = probs(neutral=1.0)


def update(t: float, *obs: tuple[int, tuple[float, ...], float, float]) -> TrackUpdate:
    return TrackUpdate(
        t_s=t,
        observations=tuple(TrackObservation(tid, p, dt, age) for tid, p, dt, age in obs),
        ended=(),
    )


def test_window_closes_on_aligned_boundary() -> None:
    """With window_s=10, a window opened at t=1003 closes at 1010 and the next at 1020."""
    agg = Aggregator(window_s=10, min_faces=1, min_seen_s=0)
    agg.start(1003.0)
    assert agg.poll(1009.99) is None
    first = agg.poll(1010.0)
    assert first is not None
    assert (first.start_s, first.end_s) == (1003.0, 1010.0)
    assert agg.poll(1015.0) is None
    second = agg.poll(1020.5)
    assert second is not None
    assert (second.start_s, second.end_s) == (1010.0, 1020.0)


def test_empty_window_reports_zero_faces() -> None:
    """A window without faces is still closed: faces 0, suppressed, frames counted."""
    agg = Aggregator(window_s=5, min_faces=3, min_seen_s=0)
    agg.start(0.0)
    agg.observe(update(1.0), 1.0)
    window = agg.poll(5.0)
    assert window is not None
    assert (window.faces, window.frames, window.suppressed) == (0, 1, True)
    assert window.expressions is None and window.median_dwell_s is None


def test_k_anonymity_suppresses_expressions() -> None:
    """Fewer than min_faces distinct tracks: faces reported, expressions/dominant/valence null."""
    agg = Aggregator(window_s=10, min_faces=3, min_seen_s=0)
    agg.start(0.0)
    agg.observe(update(1.0, (1, HAPPY, 0.0, 0.0), (2, SAD, 0.0, 0.0)), 1.0)
    agg.observe(update(2.0, (1, HAPPY, 1.0, 1.0), (2, SAD, 1.0, 1.0)), 2.0)
    window = agg.poll(10.0)
    assert window is not None
    assert window.faces == 2
    assert window.suppressed is True
    assert window.expressions is None
    assert window.dominant is None
    assert window.valence is None
    assert window.dominant_counts is None
    assert window.confidence is None


def test_shares_weighted_by_time_seen_and_sum_to_one() -> None:
    """A face seen 3 s weighs three times one seen 1 s; shares sum to 1."""
    agg = Aggregator(window_s=10, min_faces=2, min_seen_s=0)
    agg.start(0.0)
    agg.observe(update(0.0, (1, HAPPY, 0.0, 0.0), (2, SAD, 0.0, 0.0)), 0.0)
    agg.observe(update(1.0, (1, HAPPY, 1.0, 1.0), (2, SAD, 1.0, 1.0)), 1.0)
    agg.observe(update(3.0, (1, HAPPY, 2.0, 3.0)), 3.0)
    window = agg.poll(10.0)
    assert window is not None and window.expressions is not None
    assert window.expressions["happy"] == pytest.approx(0.75)
    assert window.expressions["sad"] == pytest.approx(0.25)
    assert sum(window.expressions.values()) == pytest.approx(1.0)
    assert window.dominant == "happy"
    assert window.dominant_counts is not None
    assert window.dominant_counts["happy"] == 1 and window.dominant_counts["sad"] == 1
    assert window.valence == pytest.approx(0.75 - 0.25)
    assert window.confidence == pytest.approx(1.0)
    assert window.mean_faces_present == pytest.approx(5 / 3)
    assert window.median_dwell_s == pytest.approx(2.0)  # dwell 3 s and 1 s


def test_single_frame_tracks_use_frame_counts() -> None:
    """When no time elapsed (one frame), tracks weigh by frame count instead of dividing by 0."""
    agg = Aggregator(window_s=10, min_faces=2, min_seen_s=0)
    agg.start(0.0)
    agg.observe(update(1.0, (1, HAPPY, 0.0, 0.0), (2, NEUTRAL, 0.0, 0.0)), 1.0)
    window = agg.poll(10.0)
    assert window is not None and window.expressions is not None
    assert window.expressions["happy"] == pytest.approx(0.5)
    assert window.expressions["neutral"] == pytest.approx(0.5)


def test_min_seen_filters_flicker() -> None:
    """Tracks seen for less than min_seen_s are not counted as faces."""
    agg = Aggregator(window_s=10, min_faces=1, min_seen_s=0.5)
    agg.start(0.0)
    agg.observe(update(1.0, (1, HAPPY, 0.0, 0.0), (2, SAD, 0.0, 0.0)), 1.0)
    agg.observe(update(2.0, (1, HAPPY, 1.0, 1.0)), 2.0)
    window = agg.poll(10.0)
    assert window is not None
    assert window.faces == 1
    assert window.dominant == "happy"


def test_flush_marks_partial_and_ends_now() -> None:
    """At shutdown the open window is closed early, flagged partial, ending at the stop time."""
    agg = Aggregator(window_s=60, min_faces=1, min_seen_s=0)
    agg.start(100.0)
    agg.observe(update(101.0, (1, HAPPY, 0.0, 0.0)), 101.0)
    window = agg.flush(105.0)
    assert window is not None
    assert window.partial is True
    assert (window.start_s, window.end_s) == (100.0, 105.0)
    assert window.faces == 1
    assert agg.flush(106.0) is None


def test_observe_closes_previous_window_first() -> None:
    """An update after the boundary returns the finished window; the update goes to the next."""
    agg = Aggregator(window_s=10, min_faces=1, min_seen_s=0)
    agg.start(0.0)
    agg.observe(update(5.0, (1, HAPPY, 0.0, 0.0)), 5.0)
    closed = agg.observe(update(12.0, (2, SAD, 0.0, 0.0)), 12.0)
    assert closed is not None and closed.dominant == "happy"
    nxt = agg.poll(20.0)
    assert nxt is not None and nxt.dominant == "sad"


def test_a_pause_closes_a_long_window_and_holds_a_short_one() -> None:
    """A pause after 5 s of a 60 s window publishes it as partial up to the pause; a pause
    1 s after a boundary (less than min_s=2) publishes nothing: the window is held and,
    after a resume within its slot, continued and published once at its end as partial
    with the frames of both stretches."""
    agg = Aggregator(window_s=60, min_faces=1, min_seen_s=0)
    agg.start(1005.0)
    agg.observe(update(1006.0, (1, HAPPY, 0.0, 0.0)), 1006.0)
    closed = agg.pause(1010.0, min_s=2.0)
    assert closed is not None and closed.partial and (closed.start_s, closed.end_s) == (
        1005.0, 1010.0)  # fmt: skip
    assert agg.resume(1013.0) is None
    assert agg.poll(1020.0) is not None  # the boundary at 1020 closes the resumed window
    agg.observe(update(1020.5, (2, SAD, 0.0, 0.0)), 1020.5)
    assert agg.pause(1021.0, min_s=2.0) is None and agg.held
    assert agg.resume(1024.0) is None and not agg.held
    agg.observe(update(1025.0, (3, SAD, 0.0, 0.0)), 1025.0)
    window = agg.poll(1080.0)
    assert window is not None and window.partial and window.frames == 2
    assert (window.start_s, window.end_s) == (1020.0, 1080.0)


def test_a_held_window_whose_slot_ends_in_the_pause_continues_to_the_next_boundary() -> None:
    """A short window held over a pause that outlasts its slot is not published on its own:
    it continues after the resume to the end of the current slot and is published then as
    partial; one held at shutdown is published by flush, ending at the pause."""
    agg = Aggregator(window_s=10, min_faces=1, min_seen_s=0)
    agg.start(1000.0)
    assert agg.poll(1010.0) is not None
    agg.observe(update(1010.5, (1, HAPPY, 0.0, 0.0)), 1010.5)
    assert agg.pause(1011.0, min_s=2.0) is None
    assert agg.resume(1025.0) is None
    agg.observe(update(1026.0, (2, HAPPY, 0.0, 0.0)), 1026.0)
    late = agg.poll(1030.0)
    assert late is not None and late.partial and (late.start_s, late.end_s) == (1010.0, 1030.0)
    assert late.faces == 2
    assert agg.pause(1030.5, min_s=2.0) is None
    held = agg.flush(1040.0)
    assert held is not None and held.partial and held.end_s == 1030.5
