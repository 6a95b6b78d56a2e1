"""Tumbling windows of track observations, with k-anonymity applied at close.

Pure: the caller passes wall-clock time (UNIX seconds) to every call, so tests drive it with
plain numbers. Windows are aligned to multiples of ``window_s`` since the epoch (a 60 s window
closes on the minute); the first window starts when the aggregator does.

Per window, for each track seen at least ``min_seen_s``:
- its expression profile is the mean of its smoothed probabilities over the frames it was seen
  in, weighted by the time between frames;
- the window's ``expressions`` is the mean of the track profiles weighted by each track's time
  seen in the window (by its frame count when no time elapsed, e.g. a single frame), each
  profile first softened by the model's share temperature factor (``edge.aggregation.shares``:
  shares estimate what share of observers would name each expression); ``confidence`` is the
  same weighted mean of each profile's top probability, unsoftened.

``camera_lost_s`` is the part of the window in which the camera delivered nothing (lost or
reopening), from :meth:`Aggregator.note_camera`: such a window's counts are incomplete.

Remote pause (:meth:`Aggregator.pause`, :meth:`Aggregator.resume`): the open window is closed
as ``partial`` when analysis pauses, unless it has covered less than ``min_s``; such a short
window is held instead and continued after the resume (then it is published once, at its end,
as ``partial``; when the pause outlasted its slot, its end moves to the end of the slot in which
analysis resumed). Only a shutdown publishes a held window as it is.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from edge.aggregation.shares import soften
from edge.privacy.dp import LaplaceMechanism
from edge.types import EXPRESSIONS, VALENCE_WEIGHTS, TrackUpdate, Window


@dataclass(slots=True)
class _TrackStats:
    weighted: np.ndarray
    plain: np.ndarray
    time_s: float = 0.0
    frames: int = 0
    age_s: float = 0.0


@dataclass(slots=True)
class _Open:
    start_s: float
    end_s: float
    frames: int = 0
    tracks: dict[int, _TrackStats] = field(default_factory=dict)
    camera_lost_s: float = 0.0
    paused_at: float | None = None  # held over a pause (see Aggregator.pause)
    interrupted: bool = False  # a pause fell inside it: it closes as partial


class Aggregator:
    """Accumulates :class:`TrackUpdate` records and closes :class:`Window` summaries."""

    def __init__(
        self,
        window_s: float,
        min_faces: int,
        min_seen_s: float,
        dp: LaplaceMechanism | None = None,
        share_factor: float = 1.0,
    ) -> None:
        self._window_s = window_s
        self._share_factor = share_factor
        self._dp = dp
        self._min_faces = min_faces
        self._min_seen_s = min_seen_s
        self._labels = EXPRESSIONS
        self._valence = np.array([VALENCE_WEIGHTS[k] for k in EXPRESSIONS])
        self._open: _Open | None = None
        self._camera_down_since: float | None = None

    @property
    def share_factor(self) -> float:
        """The share temperature factor applied to the profiles behind ``expressions``."""
        return self._share_factor

    def _bounds(self, now_s: float) -> tuple[float, float]:
        start = (now_s // self._window_s) * self._window_s
        return start, start + self._window_s

    def _ensure_open(self, now_s: float) -> _Open:
        if self._open is None:
            _start, end = self._bounds(now_s)
            self._open = _Open(start_s=now_s, end_s=end)
        return self._open

    def start(self, now_s: float) -> None:
        """Open the first window at ``now_s`` (otherwise the first update or poll opens it)."""
        self._ensure_open(now_s)

    def note_camera(self, delivering: bool, now_s: float) -> None:
        """The camera's state at ``now_s``: time while it is not delivering is counted in
        the open window's ``camera_lost_s``."""
        if delivering and self._camera_down_since is not None:
            win = self._ensure_open(now_s)
            win.camera_lost_s += max(0.0, now_s - max(self._camera_down_since, win.start_s))
            self._camera_down_since = None
        elif not delivering and self._camera_down_since is None:
            self._camera_down_since = now_s

    def _lost_until(self, win: _Open, end_s: float) -> float:
        if self._camera_down_since is None:
            return win.camera_lost_s
        return win.camera_lost_s + max(0.0, end_s - max(self._camera_down_since, win.start_s))

    def observe(self, update: TrackUpdate, now_s: float) -> Window | None:
        """Add one processed frame's tracks; returns a window if ``now_s`` closed one first."""
        closed = self.poll(now_s)
        win = self._ensure_open(now_s)
        win.frames += 1
        for obs in update.observations:
            stats = win.tracks.get(obs.track_id)
            if stats is None:
                stats = _TrackStats(np.zeros(len(self._labels)), np.zeros(len(self._labels)))
                win.tracks[obs.track_id] = stats
            probs = np.asarray(obs.smoothed)
            stats.weighted += obs.dt_s * probs
            stats.plain += probs
            stats.time_s += obs.dt_s
            stats.frames += 1
            stats.age_s = max(stats.age_s, obs.age_s)
        return closed

    def poll(self, now_s: float) -> Window | None:
        """Close and return the open window if ``now_s`` is at or past its end."""
        win = self._ensure_open(now_s)
        if now_s < win.end_s:
            return None
        closed = self._summarise(win, win.end_s, partial=win.interrupted)
        start, end = self._bounds(now_s)
        self._open = _Open(start_s=start, end_s=end)
        return closed

    def flush(self, now_s: float) -> Window | None:
        """Close the open window early (shutdown) as ``partial``; None if nothing was open."""
        if self._open is None:
            return None
        win, self._open = self._open, None
        end_s = min(now_s, win.end_s, win.paused_at if win.paused_at is not None else now_s)
        return self._summarise(win, end_s, partial=True)

    @property
    def held(self) -> bool:
        """A short window is held over a pause (see :meth:`pause`)."""
        return self._open is not None and self._open.paused_at is not None

    def pause(self, now_s: float, min_s: float) -> Window | None:
        """Analysis paused: the open window closed as ``partial``, or None when it covered
        less than ``min_s`` (it is held for :meth:`resume`) or nothing was open."""
        win = self._open
        if win is None or now_s - win.start_s >= min_s or now_s >= win.end_s:
            return self.flush(now_s)
        win.paused_at = now_s
        return None

    def resume(self, now_s: float) -> Window | None:
        """Analysis resumed: a held window continues (it closes at its end as ``partial``);
        when its slot ended during the pause, it continues to the end of the current slot
        instead, so a short window is never published on its own. Otherwise a new window
        opens now. Returns nothing: it is there for the pipeline's symmetry with pause."""
        win, self._open = self._open, None
        self._camera_down_since = None  # the camera was closed on purpose, not lost
        if win is not None and win.paused_at is not None:
            if now_s >= win.end_s:
                win.end_s = self._bounds(now_s)[1]
            win.paused_at, win.interrupted = None, True
            self._open = win
            return None
        self.start(now_s)
        return None

    def _summarise(self, win: _Open, end_s: float, *, partial: bool) -> Window:
        tracks = [t for t in win.tracks.values() if t.age_s >= self._min_seen_s]
        faces = len(tracks)
        present = sum(t.frames for t in tracks) / win.frames if win.frames else 0.0
        dwell = statistics.median(t.age_s for t in tracks) if tracks else None
        suppressed = faces < self._min_faces
        lost_s = min(self._lost_until(win, end_s), max(0.0, end_s - win.start_s))
        base = Window(
            start_s=win.start_s,
            end_s=end_s,
            faces=faces,
            mean_faces_present=present,
            median_dwell_s=dwell,
            expressions=None,
            dominant=None,
            dominant_counts=None,
            valence=None,
            confidence=None,
            frames=win.frames,
            suppressed=suppressed,
            partial=partial,
            camera_lost_s=lost_s,
        )
        if suppressed or not tracks:
            return base if self._dp is None else self._dp.release(base, None)
        profiles = np.stack(
            [t.weighted / t.time_s if t.time_s > 0 else t.plain / t.frames for t in tracks]
        )
        times = np.array([t.time_s for t in tracks])
        weights = times if times.sum() > 0 else np.array([float(t.frames) for t in tracks])
        weights = weights / weights.sum()
        share_profiles = soften(profiles, self._share_factor)
        shares = weights @ share_profiles
        shares = shares / shares.sum()
        counts = dict.fromkeys(self._labels, 0)
        for row in profiles:
            counts[self._labels[int(np.argmax(row))]] += 1
        exact = Window(
            start_s=base.start_s,
            end_s=base.end_s,
            faces=faces,
            mean_faces_present=present,
            median_dwell_s=dwell,
            expressions={k: float(v) for k, v in zip(self._labels, shares, strict=True)},
            dominant=self._labels[int(np.argmax(shares))],
            dominant_counts=counts,
            valence=float(np.clip(shares @ self._valence, -1.0, 1.0)),
            confidence=float(weights @ profiles.max(axis=1)),
            frames=win.frames,
            suppressed=False,
            partial=partial,
            camera_lost_s=lost_s,
        )
        # k-anonymity above is decided on the exact count; DP noise (if on) comes last.
        return exact if self._dp is None else self._dp.release(exact, share_profiles)
