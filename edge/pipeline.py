"""The per-frame work: privacy filter, detect, track, classify what is due, aggregate; each
closed window goes to a sink (the publisher encodes it). Every stage comes in through the
constructor; :meth:`Pipeline.from_config` builds the ones ``edge run``, ``edge demo`` and
``edge bench`` share. The wiring (start order, threads, stop) is :mod:`edge.app`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.aggregation import Aggregator
from edge.camera.base import SourceStats
from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.privacy.dp import LaplaceMechanism
from edge.privacy.filter import PrivacyFilter
from edge.tracking import Schedule, Tracker
from edge.types import CameraStatus, Frame, PipelineSnapshot, Window

log = logging.getLogger(__name__)

#: How long one wait for a frame may block; bounds the reaction time to a stop request.
FRAME_WAIT_S = 0.25


class WindowSink(Protocol):
    """Where the pipeline hands each closed window (the publisher encodes it)."""

    def window_closed(self, window: Window) -> None: ...


class FrameReader(Protocol):
    """What :meth:`Pipeline.step` reads frames from: the threaded camera source, or
    ``edge bench``'s unpaced reader."""

    def read(self, timeout_s: float) -> Frame | None: ...

    @property
    def status(self) -> CameraStatus: ...


@dataclass(frozen=True, slots=True)
class StepTimes:
    """Where the last :meth:`Pipeline.step` spent its time (milliseconds; ``edge bench``
    reads it). ``detected``: the detector ran; ``classified``: faces classified (the
    analyzer's ``align_ms``/``infer_ms`` hold their per-face times); ``present``: tracks
    observed; ``publish_ms``: one per window closed."""

    analysed: bool = False
    detected: bool = False
    classified: int = 0
    present: int = 0
    track_ms: float = 0.0
    aggregate_ms: float = 0.0
    publish_ms: tuple[float, ...] = ()


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


def schedule_from_config(config: Config) -> Schedule:
    """When the classifier and the detector run (``classifier.interval_s``, ``detector.fps``)."""
    cls, det = config.classifier, config.detector
    return Schedule(
        interval_s=cls.interval_s,
        shift=cls.reclassify_shift,
        scale=cls.reclassify_scale,
        score=cls.reclassify_score,
        max_batch=cls.max_batch,
        detect_interval_s=0.0 if det.fps is None else 1.0 / det.fps,
    )


class Pipeline:
    """The per-frame work: privacy filter, detect, track, classify the due tracks in one batch,
    aggregate; hands each closed window to its sink. Every stage comes in through the
    constructor."""

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        privacy: PrivacyFilter,
        tracker: Tracker,
        aggregator: Aggregator,
        *,
        windows: WindowSink,
        clock: Clock,
        counts_withheld: bool,
    ) -> None:
        self.analyzer = analyzer
        self.privacy = privacy
        self.tracker = tracker
        self.aggregator = aggregator
        #: True when differential privacy is on: no exact live count may leave the device.
        self._counts_withheld = counts_withheld
        self._windows = windows
        self._clock = clock
        self.frames = 0
        self.windows = 0
        self._gate: Callable[[], bool] | None = None
        self._analysing = True  # what the aggregator was last told (the gate owns the state)
        self._min_window_s = 0.0
        #: timings of the last step (a few perf_counter reads per frame)
        self.last = StepTimes()
        self._publish_ms: list[float] = []

    @classmethod
    def from_config(
        cls,
        config: Config,
        analyzer: FaceAnalyzer,
        windows: WindowSink,
        clock: Clock,
        *,
        rng: np.random.Generator | None = None,
    ) -> Pipeline:
        """The stages ``edge run``, ``edge demo`` and ``edge bench`` share, from the config."""
        aggregator = Aggregator(
            config.aggregation.window_s,
            config.privacy.min_faces,
            config.tracking.min_seen_s,
            dp=LaplaceMechanism.from_config(config.privacy.dp, rng),
            share_factor=analyzer.share_factor,
        )
        return cls(
            analyzer,
            PrivacyFilter(config.privacy),
            Tracker(config.tracking, schedule_from_config(config)),
            aggregator,
            windows=windows,
            clock=clock,
            counts_withheld=config.privacy.dp.enabled,
        )

    def set_gate(self, gate: Callable[[], bool] | None, min_window_s: float = 0.0) -> None:
        """Remote pause: while ``gate()`` (asked before every frame) is false no frame is
        analysed and no window is published; pausing publishes the open window as
        ``partial`` (one shorter than ``min_window_s`` is held and continued, see
        :meth:`Aggregator.pause`), resuming opens a new one."""
        self._gate = gate
        self._min_window_s = min_window_s
        self._analysing = gate is None or gate()

    def _analysis_on(self, now: float) -> bool:
        on = self._gate is None or self._gate()
        if on != self._analysing:
            self._analysing = on
            if on:
                self.tracker.reset()
                self._emit(self.aggregator.resume(now))
                log.info("analysis resumed")
            else:
                self._emit(self.aggregator.pause(now, self._min_window_s))
                log.info("analysis paused: no frame is analysed until it is resumed")
        return on

    def step(self, source: FrameReader) -> None:
        """Process the newest frame if one arrives within ``FRAME_WAIT_S``; close windows."""
        frame = source.read(FRAME_WAIT_S)
        now = self._clock.wall()
        self._publish_ms.clear()
        self.last = StepTimes()
        if not self._analysis_on(now):
            return
        camera = source.status  # changes are noted at the time they happened, not now
        self.aggregator.note_camera(camera.delivering, min(camera.since_s, now))
        if frame is None:
            self._emit(self.aggregator.poll(now))
            self.last = StepTimes(publish_ms=tuple(self._publish_ms))
            return
        perf = time.perf_counter
        detected = self.tracker.detection_due(frame.t_s)
        classified = 0
        if detected:
            image = self.privacy.prepare(frame.image)  # masks blacked out before detection
            detections = self.analyzer.detect(image, keep=self.privacy.admits)
            t0 = perf()
            plan = self.tracker.plan(detections, frame.t_s)  # which track, which are due
            t1 = perf()
            probs = self.analyzer.classify(image, plan.due_detections)
            t2 = perf()
            update = self.tracker.commit(plan, probs)
            track_s = t1 - t0 + perf() - t2
            classified = len(plan.due_detections)
        else:  # between detections (detector.fps) the tracks of the last one carry on
            t0 = perf()
            update = self.tracker.coast(frame.t_s)
            track_s = perf() - t0
        self.frames += 1
        t3 = perf()
        window = self.aggregator.observe(update, now)
        aggregate_s = perf() - t3
        self._emit(window)
        self.last = StepTimes(
            True, detected, classified, len(update.observations), track_s * 1000.0,
            aggregate_s * 1000.0, tuple(self._publish_ms),
        )  # fmt: skip

    def finish(self) -> None:
        """Publish the open window (or one held over a pause) as ``partial`` (shutdown or end
        of file)."""
        if self._analysing or self.aggregator.held:
            self._emit(self.aggregator.flush(self._clock.wall()))

    def _emit(self, window: Window | None) -> None:
        if window is not None:
            t0 = time.perf_counter()
            self._windows.window_closed(window)
            self._publish_ms.append((time.perf_counter() - t0) * 1000.0)
            self.windows += 1

    def snapshot(self, source: SourceStats | None) -> PipelineSnapshot:
        """Counters and timings for telemetry and the status line (cheap; call it when due)."""
        return PipelineSnapshot(
            frames_captured=source.captured if source is not None else 0,
            frames_dropped=source.dropped if source is not None else 0,
            frames_processed=self.frames,
            windows=self.windows,
            faces_now=None if self._counts_withheld else self.tracker.live_tracks,
            detect_ms=self.analyzer.detect_ms.p50_p95(),
            classify_ms=self.analyzer.classify_ms.p50_p95(),
            camera=source.camera if source is not None else None,
        )
