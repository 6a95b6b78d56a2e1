"""Ephemeral in-memory face tracks with smoothed expression probabilities.

Pure: no hardware, network or clock; the caller passes each frame's time. Track ids are small
integers that exist only inside this process and are forgotten ``max_missed_s`` after the face
was last seen. Matching is greedy on IoU, with a centroid-distance fallback for fast motion at
low frame rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.config import TrackingConfig
from edge.types import Box, Face, TrackObservation, TrackUpdate


@dataclass(slots=True)
class _Track:
    track_id: int
    box: Box
    smoothed: np.ndarray
    first_seen_s: float
    last_seen_s: float


class Tracker:
    """Associates faces across frames and smooths each track's probabilities (EMA)."""

    def __init__(self, config: TrackingConfig) -> None:
        self._config = config
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._last_t_s: float | None = None

    @property
    def live_tracks(self) -> int:
        return len(self._tracks)

    def reset(self) -> None:
        """Forget every track (analysis resumed after a pause: a new start)."""
        self._tracks.clear()
        self._next_id = 1
        self._last_t_s = None

    def update(self, faces: Sequence[Face], t_s: float) -> TrackUpdate:
        """Match ``faces`` seen at time ``t_s`` to tracks; end tracks missed too long."""
        cfg = self._config
        dt_s = 0.0 if self._last_t_s is None else max(0.0, t_s - self._last_t_s)
        dt_s = min(dt_s, cfg.max_missed_s)
        self._last_t_s = t_s
        matches = self._match(faces)
        observations: list[TrackObservation] = []
        for face_index, face in enumerate(faces):
            probs = np.asarray(face.probs, dtype=np.float64)
            track_id = matches.get(face_index)
            if track_id is None:
                track = _Track(self._next_id, face.detection.box, probs, t_s, t_s)
                self._tracks[track.track_id] = track
                self._next_id += 1
                seen_dt = 0.0
            else:
                track = self._tracks[track_id]
                track.smoothed = cfg.smoothing * probs + (1.0 - cfg.smoothing) * track.smoothed
                track.box = face.detection.box
                track.last_seen_s = t_s
                seen_dt = dt_s
            observations.append(
                TrackObservation(
                    track_id=track.track_id,
                    smoothed=tuple(float(p) for p in track.smoothed),
                    dt_s=seen_dt,
                    age_s=t_s - track.first_seen_s,
                )
            )
        ended = tuple(
            tid for tid, tr in self._tracks.items() if t_s - tr.last_seen_s > cfg.max_missed_s
        )
        for tid in ended:
            del self._tracks[tid]
        return TrackUpdate(t_s=t_s, observations=tuple(observations), ended=ended)

    def _match(self, faces: Sequence[Face]) -> dict[int, int]:
        """Greedy assignment face index -> track id, best IoU first, then nearest centre."""
        cfg = self._config
        pairs: list[tuple[float, int, int]] = []
        fallback: list[tuple[float, int, int]] = []
        for fi, face in enumerate(faces):
            box = face.detection.box
            for tid, track in self._tracks.items():
                iou = box.iou(track.box)
                if iou >= cfg.iou_threshold:
                    pairs.append((-iou, fi, tid))
                    continue
                (ax, ay), (bx, by) = box.center, track.box.center
                dist = ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
                scale = max(track.box.width, box.width, 1.0)
                if dist <= cfg.max_distance * scale:
                    fallback.append((dist / scale, fi, tid))
        result: dict[int, int] = {}
        used: set[int] = set()
        for _key, fi, tid in sorted(pairs) + sorted(fallback):
            if fi in result or tid in used:
                continue
            result[fi] = tid
            used.add(tid)
        return result
