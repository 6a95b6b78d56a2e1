"""Which tracked faces are due for classification, and how often the detector runs.

Pure: times are parameters. A detection that starts a new track is always due. A matched track
is due when ``interval_s`` has passed since it was last classified (a young track sooner: the
gap is at most its age at the last classification, so a new face is classified again after
one frame, then at ages 0.2, 0.4, 0.8 s ... until the gaps reach ``interval_s``, and no single
early look is held for a whole interval), or sooner when the face changed since then: its
centre moved ``shift`` face widths, its size changed by the fraction ``scale``, or its detector
score by ``score``. At most ``max_batch`` matched tracks go per frame, most overdue first;
the rest wait a frame, which also spreads a crowd that arrived together over several frames.
``interval_s`` 0 classifies every face on every detection, uncapped (the every-frame pipeline
the scheduled one is compared with).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge.types import Box, Detection


@dataclass(frozen=True, slots=True)
class Schedule:
    """When to classify and when to detect. The defaults classify every face on every frame
    and detect on every frame (the behaviour before scheduling)."""

    interval_s: float = 0.0
    shift: float = 0.5
    scale: float = 0.25
    score: float = 0.2
    max_batch: int = 1_000_000
    detect_interval_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TrackPlan:
    """The tracker's matching for one frame: ``track_ids[i]`` is the track of detection ``i``
    (None: a new track), ``due`` the indices of the detections to classify now."""

    t_s: float
    detections: tuple[Detection, ...]
    track_ids: tuple[int | None, ...]
    due: tuple[int, ...]
    generation: int

    @property
    def due_detections(self) -> list[Detection]:
        return [self.detections[i] for i in self.due]


class _Classified(Protocol):
    @property
    def first_seen_s(self) -> float: ...
    @property
    def classified_s(self) -> float: ...
    @property
    def ref_box(self) -> Box: ...
    @property
    def ref_score(self) -> float: ...


def changed(schedule: Schedule, ref: Box, ref_score: float, detection: Detection) -> bool:
    """Whether the face moved, grew or shrank, or its score changed enough to look again."""
    box = detection.box
    width = max(ref.width, 1.0)
    (ax, ay), (bx, by) = box.center, ref.center
    if math.hypot(ax - bx, ay - by) > schedule.shift * width:
        return True
    if abs(box.width / width - 1.0) > schedule.scale:
        return True
    return abs(detection.score - ref_score) > schedule.score


def due_slots(
    schedule: Schedule,
    detections: Sequence[Detection],
    track_ids: Sequence[int | None],
    tracks: Mapping[int, _Classified],
    t_s: float,
) -> tuple[int, ...]:
    """Indices of the detections to classify at ``t_s``, new tracks first."""
    new: list[int] = []
    waiting: list[tuple[float, int]] = []
    for index, track_id in enumerate(track_ids):
        if track_id is None:
            new.append(index)
            continue
        track = tracks[track_id]
        since = t_s - track.classified_s
        gap = min(schedule.interval_s, track.classified_s - track.first_seen_s)
        if since >= gap or changed(
            schedule, track.ref_box, track.ref_score, detections[index]
        ):
            waiting.append((-since, index))
    if schedule.interval_s <= 0:
        return tuple(new + [index for _key, index in sorted(waiting, key=lambda w: w[1])])
    waiting.sort()
    return tuple(new + [index for _key, index in waiting[: schedule.max_batch]])
