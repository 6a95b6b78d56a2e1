"""Ephemeral in-memory face tracks, with smoothed expression probabilities and the schedule of
which tracks are due for classification.

Pure: no hardware, network or clock; the caller passes each frame's time. Track ids are small
integers that exist only inside this process and are forgotten ``max_missed_s`` after the face
was last seen. Matching is greedy on IoU, with a centroid-distance fallback for fast motion at
low frame rates.

One frame with detection is two calls, so that the tracker knows which track each detection
belongs to before anything is classified: :meth:`Tracker.plan` matches the detections and says
which are due (:class:`edge.tracking.schedule.Schedule`), the caller classifies those in one
batch, :meth:`Tracker.commit` applies the probabilities. A track not due keeps its smoothed
estimate. On a frame without detection (``detector.fps``) :meth:`Tracker.coast` reports the
tracks of the last detection as still present. :meth:`Tracker.update` is plan + commit with
every face classified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config import TrackingConfig
from edge.tracking.schedule import Schedule, TrackPlan, due_slots
from edge.types import Box, Detection, Face, TrackObservation, TrackUpdate


@dataclass(slots=True)
class _Track:
    track_id: int
    box: Box
    score: float
    smoothed: npt.NDArray[np.float64]
    first_seen_s: float
    last_seen_s: float
    classified_s: float
    ref_box: Box
    ref_score: float
    smoothed_tuple: tuple[float, ...] = ()
    #: centre velocity (pixels per second) from consecutive detections, smoothed
    vx: float = 0.0
    vy: float = 0.0

    def predicted(self, t_s: float) -> Box:
        """The box moved on at its velocity to ``t_s`` (constant-velocity prediction)."""
        dt = t_s - self.last_seen_s
        dx, dy = self.vx * dt, self.vy * dt
        box = self.box
        return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy)

    def moved_to(self, box: Box, t_s: float) -> None:
        dt = t_s - self.last_seen_s
        if dt > 0:
            (ax, ay), (bx, by) = box.center, self.box.center
            self.vx = 0.5 * self.vx + 0.5 * (ax - bx) / dt
            self.vy = 0.5 * self.vy + 0.5 * (ay - by) / dt
        self.box = box
        self.last_seen_s = t_s


class Tracker:
    """Associates faces across frames and smooths each track's probabilities (EMA)."""

    def __init__(self, config: TrackingConfig, schedule: Schedule | None = None) -> None:
        self._config = config
        self._schedule = schedule or Schedule()
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._last_t_s: float | None = None
        self._last_detect_s: float | None = None
        self._generation = 0

    @property
    def live_tracks(self) -> int:
        return len(self._tracks)

    @property
    def schedule(self) -> Schedule:
        return self._schedule

    def reset(self) -> None:
        """Forget every track (analysis resumed after a pause: a new start)."""
        self._tracks.clear()
        self._next_id = 1
        self._last_t_s = None
        self._last_detect_s = None

    def detection_due(self, t_s: float) -> bool:
        """Whether the frame at ``t_s`` should run the detector (``detector.fps``)."""
        interval = self._schedule.detect_interval_s
        if interval <= 0 or self._last_detect_s is None:
            return True
        # half a frame of slack keeps e.g. 5 detections/s on a 10 fps clip at every 2nd frame
        return t_s - self._last_detect_s >= interval * 0.999

    def update(self, faces: Sequence[Face], t_s: float) -> TrackUpdate:
        """Match ``faces`` seen at time ``t_s`` to tracks, every face classified; end tracks
        missed too long."""
        plan = self.plan([f.detection for f in faces], t_s, classify_all=True)
        probs = np.asarray([f.probs for f in faces], dtype=np.float64)
        return self.commit(plan, probs)

    def plan(
        self, detections: Sequence[Detection], t_s: float, *, classify_all: bool = False
    ) -> TrackPlan:
        """Match ``detections`` to tracks; which of them to classify now (new tracks always)."""
        self._generation += 1
        matches = self._match(detections, t_s)
        track_ids = tuple(matches.get(i) for i in range(len(detections)))
        if classify_all:
            due = tuple(range(len(detections)))
        else:
            due = due_slots(self._schedule, detections, track_ids, self._tracks, t_s)
        return TrackPlan(t_s, tuple(detections), track_ids, due, self._generation)

    def commit(self, plan: TrackPlan, probs: npt.ArrayLike) -> TrackUpdate:
        """Apply a :meth:`plan` with the probabilities of its ``due`` detections (in order)."""
        if plan.generation != self._generation:
            raise ValueError("commit() takes the plan of the latest plan() call, once")
        self._generation += 1
        cfg = self._config
        t_s = plan.t_s
        dt_s = self._step(t_s)
        self._last_detect_s = t_s
        rows = np.asarray(probs, dtype=np.float64)
        if len(rows) != len(plan.due):
            raise ValueError(f"{len(rows)} probability rows for {len(plan.due)} due detections")
        classified = dict(zip(plan.due, range(len(plan.due)), strict=True))
        observations: list[TrackObservation] = []
        for index, detection in enumerate(plan.detections):
            row = classified.get(index)
            track_id = plan.track_ids[index]
            if track_id is None:
                if row is None:
                    continue  # defensive: a new face is always due
                track = _Track(
                    self._next_id, detection.box, detection.score, rows[row].copy(),
                    t_s, t_s, t_s, detection.box, detection.score,
                )  # fmt: skip
                self._tracks[track.track_id] = track
                self._next_id += 1
                seen_dt = 0.0
            else:
                track = self._tracks[track_id]
                if row is not None:
                    alpha = cfg.smoothing
                    track.smoothed = alpha * rows[row] + (1.0 - alpha) * track.smoothed
                    track.smoothed_tuple = ()
                    track.classified_s = t_s
                    track.ref_box, track.ref_score = detection.box, detection.score
                track.moved_to(detection.box, t_s)
                track.score = detection.score
                seen_dt = dt_s
            observations.append(self._observe(track, seen_dt, t_s))
        return TrackUpdate(t_s=t_s, observations=tuple(observations), ended=self._expire(t_s))

    def coast(self, t_s: float) -> TrackUpdate:
        """A frame without detection: the tracks seen at the last detection stay present.
        Nothing ends here: whether a face is gone is only known on a detection frame, so a
        slow ``detector.fps`` cannot end (and restart) tracks between detections."""
        dt_s = self._step(t_s)
        observations = tuple(
            self._observe(track, dt_s, t_s)
            for track in self._tracks.values()
            if track.last_seen_s == self._last_detect_s
        )
        return TrackUpdate(t_s=t_s, observations=observations, ended=())

    def _step(self, t_s: float) -> float:
        dt_s = 0.0 if self._last_t_s is None else max(0.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        return min(dt_s, self._config.max_missed_s)

    @staticmethod
    def _observe(track: _Track, dt_s: float, t_s: float) -> TrackObservation:
        if not track.smoothed_tuple:
            track.smoothed_tuple = tuple(track.smoothed.tolist())
        return TrackObservation(
            track_id=track.track_id,
            smoothed=track.smoothed_tuple,
            dt_s=dt_s,
            age_s=t_s - track.first_seen_s,
        )

    def _expire(self, t_s: float) -> tuple[int, ...]:
        limit = self._config.max_missed_s
        ended = tuple(tid for tid, tr in self._tracks.items() if t_s - tr.last_seen_s > limit)
        for tid in ended:
            del self._tracks[tid]
        return ended

    def _match(self, detections: Sequence[Detection], t_s: float) -> dict[int, int]:
        """Greedy assignment detection index -> track id, best IoU with each track's predicted
        box first, then nearest centre (all pairs at once: a crowd is hundreds of pairs)."""
        if not detections or not self._tracks:
            return {}
        cfg = self._config
        ids = list(self._tracks)
        tracks = np.array([_corners(self._tracks[tid].predicted(t_s)) for tid in ids])
        boxes = np.array([_corners(d.box) for d in detections])
        lo = np.maximum(boxes[:, None, :2], tracks[None, :, :2])
        hi = np.minimum(boxes[:, None, 2:], tracks[None, :, 2:])
        inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
        area_b = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)
        area_t = np.prod(np.clip(tracks[:, 2:] - tracks[:, :2], 0.0, None), axis=1)
        union = area_b[:, None] + area_t[None, :] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        box_c, track_c = boxes[:, :2] + boxes[:, 2:], tracks[:, :2] + tracks[:, 2:]
        shift = box_c[:, None, :] - track_c[None, :, :]
        dist = np.hypot(shift[..., 0], shift[..., 1]) / 2.0  # between the box centres
        box_w, track_w = boxes[:, 2] - boxes[:, 0], tracks[:, 2] - tracks[:, 0]
        widths = np.maximum(np.maximum(box_w[:, None], track_w[None, :]), 1.0)
        by_iou = iou >= cfg.iou_threshold
        near = ~by_iou & (dist <= cfg.max_distance * widths)
        pairs = sorted(zip((-iou[by_iou]).tolist(), *np.nonzero(by_iou), strict=True))
        fallback = sorted(
            zip((dist[near] / widths[near]).tolist(), *np.nonzero(near), strict=True)
        )
        result: dict[int, int] = {}
        used: set[int] = set()
        for _key, fi, ti in pairs + fallback:
            if fi in result or ti in used:
                continue
            result[int(fi)] = ids[ti]
            used.add(ti)
        return result


def _corners(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)
