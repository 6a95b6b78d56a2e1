"""The one wiring site: builds the stages from the config, starts them in order, stops them in
reverse (one ExitStack), and runs the loop.

One process: the capture thread keeps the newest frame; this loop pulls it, runs the models,
updates tracks and closes windows; the publisher numbers, encodes and sends each window.
SIGTERM/SIGINT only set the stop event; every blocking call in the loop has a timeout, so the
open window is published as ``partial`` and the process exits within seconds.

Start order of ``edge run`` (stop is the reverse): pre-flight (:mod:`edge.preflight`: models
loaded, TLS context, source parsed, handed on as :class:`~edge.preflight.Prepared`) ->
systemd notifier -> state directory lock -> outbox -> MQTT publisher (remote pause, Home
Assistant discovery) -> camera -> READY=1 -> loop.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from edge.camera import open_source
from edge.camera.base import LatestFrameSource
from edge.config import Config, device_id
from edge.inference.analyzer import FaceAnalyzer
from edge.pipeline import (
    FRAME_WAIT_S,
    Clock,
    FrameReader,
    Pipeline,
    SystemClock,
    WindowSink,
    schedule_from_config,
)
from edge.preflight import Prepared
from edge.publish.control import analysis_state_message
from edge.publish.homeassistant import DiscoveryMemory, HomeAssistantDiscovery
from edge.publish.message import ModelIds
from edge.publish.mqtt import MqttPublisher
from edge.publish.outbox import Outbox
from edge.publish.topics import Topics
from edge.publish.window import SeqSource, Transport, WindowPublisher
from edge.service.health import Heartbeats, ServiceHealth, StatusLine
from edge.service.pause import AnalysisSwitch, shortest_partial_s
from edge.service.sdnotify import SystemdNotifier
from edge.service.state import exclusive_state_dir, prepare_state_dir, resolve_state_dir
from edge.service.telemetry import Telemetry
from edge.types import PipelineSnapshot

__all__ = [
    "FRAME_WAIT_S",
    "Clock",
    "Demo",
    "FrameReader",
    "Pipeline",
    "RunResult",
    "Service",
    "SystemClock",
    "WindowSink",
    "schedule_from_config",
]

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run did, for the CLI's exit status and the demo's summary."""

    frames: int
    windows: int
    last_seq: int
    source_ended: bool
    #: Windows still in the outbox after MQTT's last delivery attempt (``edge run`` sends
    #: them after the next start; ``edge demo``'s outbox is temporary, so they are lost).
    undelivered: int = 0


def sample_video() -> Path:
    """The bundled sample clip used by ``edge demo`` and ``edge bench``."""
    return Path(str(resources.files("edge") / "data" / "sample.mp4"))


def state_dir(config: Config, env: Mapping[str, str] | None = None) -> Path:
    return prepare_state_dir(
        resolve_state_dir(config.state_dir, os.environ if env is None else env)
    )


def model_ids(analyzer: FaceAnalyzer) -> ModelIds:
    return ModelIds(analyzer.detector.spec.short_id, analyzer.classifier.spec.short_id)


@dataclass(frozen=True, slots=True)
class Demo:
    """``edge demo``: a throwaway state directory, every window echoed, MQTT only when asked;
    no systemd, remote pause, Home Assistant or telemetry."""

    echo: Transport
    mqtt: bool


def open_outbox(config: Config, state: Path, stack: ExitStack) -> Outbox:
    """``<state>/outbox.db``, taking over ``<state>/seq`` of earlier versions."""
    outbox = Outbox(state / "outbox.db", config.mqtt.outbox, legacy_seq_file=state / "seq")
    stack.callback(outbox.close)
    return outbox


def undelivered_at_close(outbox: Outbox, stack: ExitStack) -> list[int]:
    """A list that receives the outbox's stored windows when ``stack`` unwinds to this point:
    after MQTT's last delivery attempt (entered later, closed earlier), before the outbox
    closes."""
    left: list[int] = []
    stack.callback(lambda: left.append(outbox.stored))
    return left


def build_pipeline(
    config: Config,
    analyzer: FaceAnalyzer,
    seq: SeqSource,
    transports: Sequence[Transport],
    clock: Clock,
    *,
    epoch: str | None = None,
) -> tuple[Pipeline, WindowPublisher]:
    """The pipeline and its window publisher as ``edge run``, ``edge demo`` and ``edge bench``
    build them (numbers from ``seq``: the outbox, or the bench's counter; ``epoch``: the
    outbox's, which tells a reflashed device's windows apart)."""
    windows = WindowPublisher(
        seq,
        transports,
        topics=Topics(config.mqtt.topic_prefix, device_id(config.device)),
        models=model_ids(analyzer),
        qos=config.mqtt.qos,
        epoch=epoch,
    )
    return Pipeline.from_config(config, analyzer, windows, clock), windows


class Service:
    """``edge run`` (and ``edge demo``): ordered start, reverse stop, one ExitStack."""

    def __init__(
        self,
        prepared: Prepared,
        *,
        stop: threading.Event,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        demo: Demo | None = None,
    ) -> None:
        self._prepared = prepared
        self._config = config = prepared.config
        self._stop = stop
        self._env = os.environ if env is None else env
        self._clock = clock or SystemClock()
        self._demo = demo
        self._topics = Topics(config.mqtt.topic_prefix, device_id(config.device))

    def run(self) -> RunResult:
        """Start every stage, loop until stopped (or a non-looping file ends), stop in reverse.

        Raises :class:`~edge.service.health.WorkerFailedError` when a worker thread died; the
        open window is still published (as ``partial``) on the way out."""
        config, demo = self._config, self._demo
        workers = Heartbeats()
        with ExitStack() as stack:
            notifier = stack.enter_context(SystemdNotifier.from_env({} if demo else self._env))
            notifier.status("starting: state directory and outbox")
            if demo is not None:
                state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-demo-")))
            else:
                state = state_dir(config, self._env)
            stack.enter_context(exclusive_state_dir(state))
            outbox = open_outbox(config, state, stack)
            left = undelivered_at_close(outbox, stack)
            transports: list[Transport] = [demo.echo] if demo is not None else []
            publisher, switch = self._start_mqtt(stack, state, outbox, workers)
            if publisher is not None:
                transports.append(publisher)
            analyzer = self._prepared.analyzer  # loaded and verified by the pre-flight
            pipeline, windows = build_pipeline(
                config, analyzer, outbox, transports, self._clock, epoch=outbox.epoch
            )
            spec = self._prepared.source
            notifier.status(f"starting: opening camera {spec.redacted()}")
            source = stack.enter_context(
                open_source(config.camera, workers.new("capture"), spec=spec, gate=switch)
            )  # the switch owns the pause: the camera closes while it is off
            if switch is not None:
                shortest = shortest_partial_s(config.aggregation.window_s)
                pipeline.set_gate(lambda: switch.enabled, min_window_s=shortest)

            def snapshot() -> PipelineSnapshot:
                return pipeline.snapshot(source.stats)

            ticks: list[Callable[[], None]] = [workers.raise_if_failed]
            health = None
            if demo is None and publisher is not None and switch is not None:
                health = ServiceHealth(
                    notifier, StatusLine(snapshot, publisher).describe, workers=workers
                )
                telemetry = self._telemetry(outbox, publisher, switch, snapshot, analyzer)
                ticks = [health.tick, telemetry.tick]
                self._wait_first_attempt(source, config.camera.read_timeout_s)
                health.ready()  # after the camera's first open attempt, whatever its outcome
            pipeline.aggregator.start(self._clock.wall())
            try:
                while not self._stop.is_set() and not source.ended:
                    pipeline.step(source)
                    for tick in ticks:
                        tick()
            finally:
                notifier.status("stopping: publishing the open window")
                pipeline.finish()
                if health is not None:
                    health.stopping()
            ended = source.ended
            stats = source.stats
            log.info(
                "stopped: %d frames processed, %d captured, %d dropped, %d windows",
                pipeline.frames,
                stats.captured,
                stats.dropped,
                pipeline.windows,
            )
            result = RunResult(pipeline.frames, windows.windows, windows.last_seq, ended)
        return replace(result, undelivered=sum(left))

    def _wait_first_attempt(self, source: LatestFrameSource, read_timeout_s: float) -> None:
        """Until the camera delivered or its first open attempt failed, bounded, stoppable."""
        deadline = time.monotonic() + 2 * read_timeout_s + 5.0
        while not self._stop.is_set() and time.monotonic() < deadline:
            if source.wait_first_attempt(0.25):
                return

    def _start_mqtt(
        self, stack: ExitStack, state: Path, outbox: Outbox, workers: Heartbeats
    ) -> tuple[MqttPublisher | None, AnalysisSwitch | None]:
        """The MQTT client, and (for ``edge run``) the remote pause and HA discovery."""
        config, topics = self._config, self._topics
        if self._demo is not None and not self._demo.mqtt:
            return None, None
        publisher = MqttPublisher(
            config.mqtt,
            topics,
            outbox,
            window_s=config.aggregation.window_s,
            env=self._env,
            durable=self._demo is None,
            liveness=workers.new("mqtt"),
            tls=self._prepared.tls,
        )
        switch = None
        if self._demo is None:
            switch = AnalysisSwitch(
                state / "analysis",
                on_change=lambda on: publisher.publish_live(analysis_state_message(topics, on)),
                schedule=publisher.call_later,  # held commands apply on the MQTT thread
            )
            publisher.publish_live(analysis_state_message(topics, switch.enabled))
            publisher.subscribe(topics.analysis_set, switch.handle)
            HomeAssistantDiscovery(
                publisher,
                topics,
                discovery_prefix=config.homeassistant.discovery_prefix,
                device_name=config.device.name,
                memory=DiscoveryMemory(state / "homeassistant-announced"),
            ).start(enabled=config.homeassistant.enabled)
        stack.enter_context(publisher)
        return publisher, switch

    def _telemetry(
        self,
        outbox: Outbox,
        publisher: MqttPublisher,
        switch: AnalysisSwitch,
        snapshot: Callable[[], PipelineSnapshot],
        analyzer: FaceAnalyzer,
    ) -> Telemetry:
        return Telemetry(
            interval_s=self._config.telemetry.interval_s,
            topics=self._topics,
            models=model_ids(analyzer),
            outbox=outbox,
            publish=publisher.publish_live,
            snapshot=snapshot,
            reconnects=lambda: publisher.stats().reconnects,
            analysis=lambda: switch.enabled,
        )
