"""Tracker: ephemeral ids, matching, expiry and smoothing, driven by injected times."""

from __future__ import annotations

import pytest

from edge.config import TrackingConfig
from edge.tracking import Tracker
from edge.types import Box, Detection, Face

HAPPY = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
SAD = (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def face(x: float, y: float, size: float = 50.0, probs: tuple[float, ...] = HAPPY) -> Face:
    box = Box(x, y, x + size, y + size)
    det = Detection(box, 0.9, (x + 0.3 * size, y + 0.4 * size), (x + 0.7 * size, y + 0.4 * size))
    return Face(det, probs)


def test_same_face_moving_keeps_its_track() -> None:
    """A face that moves a little between frames keeps one track id."""
    tracker = Tracker(TrackingConfig())
    ids = {
        tracker.update([face(100 + 5 * i, 100)], t_s=i * 0.1).observations[0].track_id
        for i in range(10)
    }
    assert len(ids) == 1


def test_two_faces_get_two_tracks_and_stay_apart() -> None:
    """Two separate faces get distinct ids, and each keeps its own across frames."""
    tracker = Tracker(TrackingConfig())
    first = tracker.update([face(0, 0), face(300, 0)], t_s=0.0)
    second = tracker.update([face(302, 1), face(2, 1)], t_s=0.1)  # order swapped
    a, b = (o.track_id for o in first.observations)
    assert a != b
    assert [o.track_id for o in second.observations] == [b, a]


def test_fast_motion_matches_by_centroid() -> None:
    """At low frame rates a face whose boxes no longer overlap is matched by centre distance."""
    tracker = Tracker(TrackingConfig(iou_threshold=0.3, max_distance=1.0))
    t1 = tracker.update([face(100, 100)], t_s=0.0).observations[0].track_id
    t2 = tracker.update([face(140, 100)], t_s=0.5).observations[0].track_id  # IoU ~ 0.11
    assert t1 == t2


def test_track_forgotten_after_max_missed() -> None:
    """A track unseen for longer than max_missed_s ends; the face returning gets a new id."""
    tracker = Tracker(TrackingConfig(max_missed_s=1.0))
    first = tracker.update([face(0, 0)], t_s=0.0).observations[0].track_id
    assert tracker.update([], t_s=0.9).ended == ()
    ended = tracker.update([], t_s=1.2).ended
    assert ended == (first,)
    assert tracker.live_tracks == 0
    again = tracker.update([face(0, 0)], t_s=1.3).observations[0].track_id
    assert again != first


def test_smoothing_is_an_ema() -> None:
    """Smoothed probabilities follow s = a * p + (1 - a) * s_prev."""
    tracker = Tracker(TrackingConfig(smoothing=0.25))
    tracker.update([face(0, 0, probs=HAPPY)], t_s=0.0)
    obs = tracker.update([face(0, 0, probs=SAD)], t_s=0.1).observations[0]
    assert obs.smoothed[3] == pytest.approx(0.75)
    assert obs.smoothed[4] == pytest.approx(0.25)


def test_dt_and_age_come_from_given_times() -> None:
    """Time seen and age use only the times passed in (no clock), dt capped at max_missed_s."""
    tracker = Tracker(TrackingConfig(max_missed_s=1.0))
    assert tracker.update([face(0, 0)], t_s=10.0).observations[0].dt_s == 0.0
    obs = tracker.update([face(0, 0)], t_s=10.4).observations[0]
    assert obs.dt_s == pytest.approx(0.4)
    assert obs.age_s == pytest.approx(0.4)
    obs = tracker.update([face(0, 0)], t_s=11.3).observations[0]
    assert obs.dt_s == pytest.approx(0.9)
    assert obs.age_s == pytest.approx(1.3)
