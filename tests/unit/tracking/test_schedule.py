"""Classification schedule and detection rate: which tracks are due, coasting between
detections, driven by injected times."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import TrackingConfig
from edge.tracking import Schedule, Tracker
from edge.types import Box, Detection

HAPPY = np.array([[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])


def det(x: float, y: float = 0.0, size: float = 50.0, score: float = 0.9) -> Detection:
    box = Box(x, y, x + size, y + size)
    return Detection(box, score, (x + 0.3 * size, y + 0.4 * size), (x + 0.7 * size, y + 0.4 * size))


def step(tracker: Tracker, detections: list[Detection], t_s: float) -> tuple[int, ...]:
    """One detection frame: plan, classify every due face as happy, commit; returns due."""
    plan = tracker.plan(detections, t_s)
    tracker.commit(plan, np.repeat(HAPPY, len(plan.due), axis=0))
    return plan.due


def test_new_face_is_classified_at_once_then_on_a_widening_schedule() -> None:
    """A new track is due on its first frame, again one frame later, then at gaps that double
    up to interval_s, then every interval_s."""
    tracker = Tracker(TrackingConfig(), Schedule(interval_s=1.0))
    times = [round(0.1 * i, 1) for i in range(40)]
    due_at = [t for t in times if step(tracker, [det(100)], t)]
    assert due_at == [0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 2.6, 3.6]


@pytest.mark.parametrize(
    "changed",
    [det(140), det(100, size=70), det(100, score=0.6)],
    ids=["moved", "grew", "score"],
)
def test_a_changed_face_is_classified_before_its_interval(changed: Detection) -> None:
    """A face that moved by more than shift widths, changed size by more than scale, or whose
    score changed by more than score since its last classification is due at once."""
    schedule = Schedule(interval_s=10.0, shift=0.5, scale=0.25, score=0.2)
    tracker = Tracker(TrackingConfig(max_distance=2.0), schedule)
    for i in range(12):  # past the warm-up: the next regular look is 10 s away
        step(tracker, [det(100)], 0.1 * i)
    assert step(tracker, [det(102)], 1.3) == ()  # a small shift is not a change
    assert step(tracker, [changed], 1.4) == (0,)


def test_max_batch_caps_reclassification_but_never_new_faces() -> None:
    """At most max_batch matched tracks are classified per frame, most overdue first; new
    tracks are always classified on the frame they appear."""
    tracker = Tracker(TrackingConfig(), Schedule(interval_s=0.01, max_batch=2))
    faces = [det(100 * i) for i in range(5)]
    assert step(tracker, faces, 0.0) == (0, 1, 2, 3, 4)
    first = step(tracker, faces, 0.1)
    assert len(first) == 2
    second = step(tracker, faces, 0.2)
    assert len(second) == 2 and not set(first) & set(second)  # the waiting ones go next
    assert step(tracker, [*faces, det(900)], 0.3)[0] == 5  # the new face first, uncapped


def test_interval_zero_classifies_every_face_on_every_detection() -> None:
    """classifier.interval_s 0 is the every-frame pipeline: every face, every detection, in
    detection order, whatever max_batch says."""
    tracker = Tracker(TrackingConfig(), Schedule(interval_s=0.0, max_batch=2))
    faces = [det(100 * i) for i in range(5)]
    for i in range(4):
        assert step(tracker, faces, 0.1 * i) == (0, 1, 2, 3, 4)


def test_unclassified_track_keeps_its_estimate() -> None:
    """A track that is not due keeps its smoothed estimate and is still reported present."""
    tracker = Tracker(TrackingConfig(smoothing=0.5), Schedule(interval_s=5.0))
    first = tracker.commit(tracker.plan([det(0)], 0.0), HAPPY)
    for t in (0.1, 0.2, 0.4, 0.8):
        step(tracker, [det(0)], t)
    plan = tracker.plan([det(0)], 1.0)
    assert plan.due == ()
    update = tracker.commit(plan, np.zeros((0, 7)))
    [obs] = update.observations
    assert obs.track_id == first.observations[0].track_id
    assert obs.smoothed == pytest.approx(tuple(HAPPY[0]))
    assert obs.dt_s == pytest.approx(0.2)


def test_coast_keeps_ids_and_presence_between_detections() -> None:
    """On frames without detection the tracks of the last detection stay present with their
    ids and time; a face missed by that detection is not coasted."""
    tracker = Tracker(TrackingConfig(), Schedule(detect_interval_s=0.2))
    assert tracker.detection_due(0.0)
    step(tracker, [det(0), det(300)], 0.0)
    assert not tracker.detection_due(0.1)
    coasted = tracker.coast(0.1)
    assert [o.track_id for o in coasted.observations] == [1, 2]
    assert [o.dt_s for o in coasted.observations] == pytest.approx([0.1, 0.1])
    assert tracker.detection_due(0.2)
    step(tracker, [det(4)], 0.2)  # the second face is missed
    assert [o.track_id for o in tracker.coast(0.3).observations] == [1]
    step(tracker, [det(8), det(300)], 0.4)  # it is back within max_missed_s: same id
    assert [o.track_id for o in tracker.coast(0.5).observations] == [1, 2]


def test_velocity_prediction_follows_fast_motion_across_skipped_frames() -> None:
    """A face moving steadily by more than its width between detections keeps its track: the
    match uses the box predicted at its velocity."""
    tracker = Tracker(TrackingConfig(max_distance=1.0), Schedule(detect_interval_s=0.3))
    ids = set()
    for i in range(6):  # 60 px per detection for a 50 px face: beyond the centroid fallback
        plan = tracker.plan([det(40.0 * i if i < 2 else 40.0 + 60.0 * (i - 1))], 0.3 * i)
        update = tracker.commit(plan, np.repeat(HAPPY, len(plan.due), axis=0))
        ids.add(update.observations[0].track_id)
    assert ids == {1}


def test_commit_needs_the_latest_plan() -> None:
    """A plan is applied at most once, and only the newest: the tracker cannot be fed
    probabilities for detections it no longer holds."""
    tracker = Tracker(TrackingConfig())
    old = tracker.plan([det(0)], 0.0)
    new = tracker.plan([det(0)], 0.0)
    with pytest.raises(ValueError, match="latest"):
        tracker.commit(old, HAPPY)
    tracker.commit(new, HAPPY)
    with pytest.raises(ValueError, match="once"):
        tracker.commit(new, HAPPY)


def test_slow_detection_does_not_end_tracks_between_detections() -> None:
    """With detections further apart than max_missed_s, coasted frames end no track and the
    face keeps its id at the next detection (no churn inflating faces)."""
    tracker = Tracker(TrackingConfig(max_missed_s=0.5), Schedule(detect_interval_s=1.0))
    step(tracker, [det(0)], 0.0)
    for t in (0.3, 0.6, 0.9):
        update = tracker.coast(t)
        assert update.ended == () and [o.track_id for o in update.observations] == [1]
    assert tracker.detection_due(1.0)
    plan = tracker.plan([det(2)], 1.0)
    assert plan.track_ids == (1,)
