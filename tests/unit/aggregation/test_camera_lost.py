"""Windows say how long the camera was lost in them (camera_lost_s), so a dead camera does
not look like an empty room. Time is a parameter: no sleeps."""

from __future__ import annotations

from edge.aggregation import Aggregator
from edge.types import TrackUpdate

EMPTY = TrackUpdate(t_s=0.0, observations=(), ended=())


def test_lost_time_is_counted_in_each_window_it_overlaps() -> None:
    """Camera lost from t=1205 to t=1275 in 60 s windows: 55 s in the first window, 15 s in
    the second, 0 in the third."""
    agg = Aggregator(60.0, min_faces=1, min_seen_s=0.0)
    agg.start(1200.0)
    agg.note_camera(True, 1200.0)
    agg.note_camera(False, 1205.0)
    first = agg.poll(1260.0)
    agg.note_camera(False, 1261.0)
    agg.note_camera(True, 1275.0)
    agg.observe(EMPTY, 1300.0)
    second = agg.poll(1320.0)
    third = agg.poll(1380.0)
    assert first is not None and second is not None and third is not None
    assert abs(first.camera_lost_s - 55.0) < 1e-9
    assert abs(second.camera_lost_s - 15.0) < 1e-9
    assert third.camera_lost_s == 0.0


def test_a_partial_window_counts_lost_time_up_to_its_end() -> None:
    """At shutdown the open window counts the lost time up to the flush."""
    agg = Aggregator(60.0, min_faces=1, min_seen_s=0.0)
    agg.start(1200.0)
    agg.note_camera(False, 1210.0)
    window = agg.flush(1230.0)
    assert window is not None and window.partial and abs(window.camera_lost_s - 20.0) < 1e-9


def test_camera_never_seen_lost_reports_zero() -> None:
    """A healthy camera gives camera_lost_s 0."""
    agg = Aggregator(10.0, min_faces=1, min_seen_s=0.0)
    agg.start(0.0)
    for t in range(10):
        agg.note_camera(True, float(t))
    window = agg.poll(10.0)
    assert window is not None and window.camera_lost_s == 0.0
