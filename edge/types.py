"""Small frozen records passed between the pipeline stages.

Stages exchange these, never tuples or dicts. Nothing here leaves the process except
:class:`Window`, and only through :mod:`edge.publish.window`, which decides which of its
fields go on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

#: Expression labels in the order every classifier in the manifest emits them.
EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Valence weight of each expression (positive = pleasant display). Used for the window's
#: ``valence``; a coarse, documented convention, not a measurement of feeling.
VALENCE_WEIGHTS: dict[str, float] = {
    "angry": -1.0,
    "disgust": -1.0,
    "fear": -1.0,
    "happy": 1.0,
    "sad": -1.0,
    "surprise": 0.0,
    "neutral": 0.0,
}

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera frame, held in memory only.

    ``image`` is an RGB ``uint8`` array (H x W x 3). ``t_s`` is the monotonic capture time in
    seconds; ``index`` counts frames delivered by the source since it opened.
    """

    image: ImageArray
    t_s: float
    index: int


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixels of the frame it was found in."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return max(0.0, self.x1 - self.x0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Detection:
    """A face found by the detector: box, score and the two eye centres (pixels)."""

    box: Box
    score: float
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face with its expression probabilities (``EXPRESSIONS`` order)."""

    detection: Detection
    probs: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TrackObservation:
    """What the tracker reports about one live track for one processed frame.

    ``track_id`` is ephemeral and never leaves the process. ``dt_s`` is the time this track
    was seen since the previous processed frame (0 on the first frame it appears).
    """

    track_id: int
    smoothed: tuple[float, ...]
    dt_s: float
    age_s: float


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """The tracker's output for one processed frame."""

    t_s: float
    observations: tuple[TrackObservation, ...]
    ended: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DpStatement:
    """The differential-privacy parameters a window's numbers were released with.

    ``epsilon`` is the budget per window and per face track; ``counts_scale`` and
    ``shares_scale`` are the Laplace scales (b) of the noise on the counts and on the
    per-expression sums (see :mod:`edge.privacy.dp`).
    """

    epsilon: float
    counts_scale: float
    shares_scale: float


@dataclass(frozen=True, slots=True)
class Window:
    """Aggregated, anonymous summary of one tumbling window.

    Times are UNIX seconds (UTC). When ``suppressed`` is true (fewer than k distinct faces),
    ``expressions``, ``dominant`` and ``valence`` are ``None``. ``dp`` is set when the numbers
    carry differential-privacy noise.
    """

    start_s: float
    end_s: float
    faces: int
    mean_faces_present: float
    median_dwell_s: float | None
    expressions: dict[str, float] | None
    dominant: str | None
    dominant_counts: dict[str, int] | None
    valence: float | None
    confidence: float | None
    frames: int
    suppressed: bool
    partial: bool
    dp: DpStatement | None = None
    #: Seconds of the window in which the camera delivered no frame because it was lost or
    #: (re)opening: the counts of such a window are incomplete, not an empty room.
    camera_lost_s: float = 0.0


#: ``opening`` until the first frame after an open, ``ok`` while frames arrive, ``lost``
#: after a failure (reopening with backoff), ``paused`` while analysis is paused (the camera
#: is closed), ``ended`` at the end of a non-looping file.
CameraState = Literal["opening", "ok", "lost", "paused", "ended"]


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """The camera's state, since when (UNIX seconds) and how often it was reopened."""

    state: CameraState
    since_s: float
    reopen_attempts: int

    @property
    def delivering(self) -> bool:
        return self.state == "ok"


class Liveness(Protocol):
    """What a worker thread reports to the service's health: a beat with a promise of the
    next one within ``within_s`` seconds, and an unexpected exception that ended it."""

    def beat(self, within_s: float) -> None: ...

    def failed(self, exc: BaseException) -> None: ...

    def done(self) -> None: ...


class AnalysisGate(Protocol):
    """The one owner of the remote pause (:class:`edge.service.pause.AnalysisSwitch`): the
    others ask it (``enabled``) or are told of each change (``subscribe``), never keep a
    copy in step by polling."""

    @property
    def enabled(self) -> bool: ...

    def subscribe(self, listener: Callable[[bool], None]) -> None: ...


class Toggle:
    """An in-memory :class:`AnalysisGate` (a camera source nobody pauses remotely, tests)."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled
        self._listeners: list[Callable[[bool], None]] = []

    @property
    def enabled(self) -> bool:
        return self._enabled

    def subscribe(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def set(self, enabled: bool) -> None:
        if enabled != self._enabled:
            self._enabled = enabled
            for listener in self._listeners:
                listener(enabled)


class NoLiveness:
    """For workers that nobody watches (bench, tests)."""

    def beat(self, within_s: float) -> None:
        pass

    def failed(self, exc: BaseException) -> None:
        pass

    def done(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class PipelineSnapshot:
    """What the processing loop offers its observers (telemetry, systemd's status line):
    counters and timings, never an image or anything per face.

    ``faces_now`` is None when differential privacy is on: an exact live count would bypass
    its epsilon. Timings are (p50, p95) in milliseconds, None before the first sample.
    """

    frames_captured: int
    frames_dropped: int
    frames_processed: int
    windows: int
    faces_now: int | None
    detect_ms: tuple[float, float] | None
    classify_ms: tuple[float, float] | None
    camera: CameraStatus | None = None
