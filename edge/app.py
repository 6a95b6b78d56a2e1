"""Builds the stages from the config, owns the ExitStack and the stop event, runs the loop.

One process: the capture thread keeps the newest frame; this loop pulls it, runs the models,
updates tracks and closes windows; the sinks (MQTT, stdout) get one message per window.
SIGTERM/SIGINT only set the stop event; every blocking call in the loop has a timeout, so the
open window is published as ``partial`` and the process exits within seconds.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edge.aggregate import Aggregator
from edge.camera import LatestFrameSource, open_source
from edge.config import Config
from edge.dp import LaplaceMechanism
from edge.inference.analyzer import FaceAnalyzer
from edge.privacy import PrivacyFilter
from edge.publish.payloads import ModelIds, OutboundMessage, Topics, window_message
from edge.publish.seq import SeqSource
from edge.state import prepare_state_dir, resolve_state_dir
from edge.tracking import Tracker
from edge.types import Frame, Window

log = logging.getLogger(__name__)

#: How long one wait for a frame may block; bounds the reaction time to a stop request.
FRAME_WAIT_S = 0.25


class Sink(Protocol):
    """Where window messages go (MQTT, stdout in the demo, a list in tests)."""

    def send(self, message: OutboundMessage) -> None: ...


class FrameReader(Protocol):
    """What :meth:`Pipeline.step` reads frames from: the threaded camera source, or
    ``edge bench``'s unpaced reader."""

    def read(self, timeout_s: float) -> Frame | None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run did, for the CLI's exit status and the demo's summary."""

    frames: int
    windows: int
    last_seq: int
    source_ended: bool


def device_id(config: Config) -> str:
    """``device.id`` or the hostname, reduced to characters that are safe in a topic level."""
    if config.device.id:
        return config.device.id
    host = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", host)[:64] or "edge"


def state_dir(config: Config, env: Mapping[str, str] | None = None) -> Path:
    return prepare_state_dir(
        resolve_state_dir(config.state_dir, os.environ if env is None else env)
    )


class Pipeline:
    """The per-frame work: analyse, track, aggregate; emits a message per closed window."""

    def __init__(
        self,
        config: Config,
        analyzer: FaceAnalyzer,
        seq: SeqSource,
        sinks: Sequence[Sink],
        clock: Clock,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        self._config = config
        self.analyzer = analyzer
        self.privacy = PrivacyFilter(config.privacy)
        self.tracker = Tracker(config.tracking)
        self.aggregator = Aggregator(
            config.aggregation.window_s,
            config.privacy.min_faces,
            config.tracking.min_seen_s,
            dp=LaplaceMechanism.from_config(config.privacy.dp, rng),
        )
        #: True when differential privacy is on: no exact live count may leave the device.
        self.exact_counts_withheld = config.privacy.dp.epsilon is not None
        self.topics = Topics(config.mqtt.topic_prefix, device_id(config))
        self.models = ModelIds(analyzer.detector.spec.short_id, analyzer.classifier.spec.short_id)
        self._seq = seq
        self._sinks = sinks
        self._clock = clock
        self.frames = 0
        self.windows = 0
        #: The open frame source (for telemetry), set by :func:`run_pipeline`.
        self.source: LatestFrameSource | None = None
        self._gate: Callable[[], bool] | None = None
        self._analysing = True

    def set_gate(self, gate: Callable[[], bool] | None) -> None:
        """Remote pause: while ``gate()`` is false no frame is analysed and no window is
        published; pausing publishes the open window as ``partial``, resuming opens a new one."""
        self._gate = gate
        self._analysing = gate is None or gate()

    def _analysis_on(self, now: float) -> bool:
        on = self._gate is None or self._gate()
        if on != self._analysing:
            self._analysing = on
            if on:
                self.aggregator.flush(now)  # only paused time: nothing was analysed in it
                self.tracker = Tracker(self._config.tracking)
                self.aggregator.start(now)
                log.info("analysis resumed")
            else:
                self._emit(self.aggregator.flush(now))
                log.info("analysis paused: no frame is analysed until it is resumed")
        return on

    def step(self, source: FrameReader) -> None:
        """Process the newest frame if one arrives within ``FRAME_WAIT_S``; close windows."""
        frame = source.read(FRAME_WAIT_S)
        now = self._clock.wall()
        if not self._analysis_on(now):
            return
        if frame is None:
            self._emit(self.aggregator.poll(now))
            return
        image = self.privacy.prepare(frame.image)  # masks blacked out before detection
        faces = self.analyzer.analyze(image, keep=self.privacy.admits)
        update = self.tracker.update(faces, frame.t_s)
        self.frames += 1
        self._emit(self.aggregator.observe(update, now))

    def finish(self) -> None:
        """Publish the open window as ``partial`` (shutdown or end of file)."""
        if self._analysing:
            self._emit(self.aggregator.flush(self._clock.wall()))

    def _emit(self, window: Window | None) -> None:
        if window is None:
            return
        seq = self._seq.next()
        message = window_message(
            window, seq=seq, topics=self.topics, models=self.models, qos=self._config.mqtt.qos
        )
        for sink in self._sinks:
            sink.send(message)
        self.windows += 1
        log.info(
            "window seq=%d faces=%d frames=%d suppressed=%s partial=%s",
            seq,
            window.faces,
            window.frames,
            window.suppressed,
            window.partial,
        )

    @property
    def last_seq(self) -> int:
        return self._seq.last


def run_pipeline(
    config: Config,
    *,
    stop: threading.Event,
    sinks: Sequence[Sink],
    seq: SeqSource,
    clock: Clock | None = None,
    on_ready: Callable[[], None] | None = None,
    on_tick: Callable[[Pipeline], None] | None = None,
    analysis: Callable[[], bool] | None = None,
) -> RunResult:
    """Run until ``stop`` is set or a non-looping file source ends."""
    clock = clock or SystemClock()
    analyzer = FaceAnalyzer.from_config(config)
    pipeline = Pipeline(config, analyzer, seq, sinks, clock)
    with ExitStack() as stack:
        source = stack.enter_context(open_source(config.camera))
        pipeline.source = source
        pipeline.set_gate(analysis)
        pipeline.aggregator.start(clock.wall())
        if on_ready is not None:
            on_ready()
        while not stop.is_set() and not source.ended:
            pipeline.step(source)
            if on_tick is not None:
                on_tick(pipeline)
        ended = source.ended
        pipeline.finish()
        stats = source.stats
    log.info(
        "stopped: %d frames processed, %d captured, %d dropped, %d windows",
        pipeline.frames,
        stats.captured,
        stats.dropped,
        pipeline.windows,
    )
    return RunResult(pipeline.frames, pipeline.windows, pipeline.last_seq, ended)
