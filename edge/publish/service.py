"""Wires the MQTT side of ``edge run``: outbox, publisher, remote pause, Home Assistant
discovery and telemetry, all closed in the right order by one ExitStack."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge import __version__
from edge.config import Config
from edge.control import AnalysisSwitch
from edge.publish.mqtt import MqttPublisher
from edge.publish.outbox import Outbox
from edge.publish.payloads import (
    Topics,
    analysis_state_message,
    ha_birth_topic,
    ha_discovery_message,
)
from edge.telemetry import Telemetry

if TYPE_CHECKING:
    from edge.app import Pipeline

#: Home Assistant's birth message is answered after a random delay in this range (seconds),
#: so a fleet of sensors does not answer at the same instant.
HA_REPUBLISH_DELAY_S = (1.0, 5.0)


def open_outbox(config: Config, state_dir: Path, stack: ExitStack) -> Outbox:
    """``<state_dir>/outbox.db``, taking over ``<state_dir>/seq`` of earlier versions."""
    outbox = Outbox(state_dir / "outbox.db", config.mqtt.outbox, legacy_seq_file=state_dir / "seq")
    stack.callback(outbox.close)
    return outbox


@dataclass
class MqttService:
    outbox: Outbox
    publisher: MqttPublisher
    switch: AnalysisSwitch
    tick: Callable[[Pipeline], None]

    def analysis_enabled(self) -> bool:
        return self.switch.enabled


class HomeAssistantDiscovery:
    """Retained device discovery, re-published after Home Assistant's ``online`` birth."""

    def __init__(
        self,
        publisher: MqttPublisher,
        topics: Topics,
        *,
        discovery_prefix: str,
        device_name: str | None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._publisher = publisher
        self._message = ha_discovery_message(
            topics, discovery_prefix=discovery_prefix, device_name=device_name, version=__version__
        )
        self._birth = ha_birth_topic(discovery_prefix)
        self._rand = rand

    def start(self) -> None:
        self._publisher.publish_live(self._message)
        self._publisher.subscribe(self._birth, self.on_birth)

    def on_birth(self, payload: bytes) -> None:
        if payload.strip() != b"online":
            return
        low, high = HA_REPUBLISH_DELAY_S
        delay = low + (high - low) * self._rand()
        self._publisher.call_later(delay, lambda: self._publisher.publish_live(self._message))


def open_service(
    config: Config,
    state_dir: Path,
    topics: Topics,
    *,
    stack: ExitStack,
    env: Mapping[str, str] | None = None,
) -> MqttService:
    """Everything MQTT for ``edge run``; entered into ``stack`` (closed in reverse order)."""
    outbox = open_outbox(config, state_dir, stack)
    publisher = MqttPublisher(
        config.mqtt, topics, outbox, window_s=config.aggregation.window_s, env=env
    )
    switch = AnalysisSwitch(
        state_dir / "analysis",
        on_change=lambda on: publisher.publish_live(analysis_state_message(topics, on)),
    )
    publisher.publish_live(analysis_state_message(topics, switch.enabled))
    publisher.subscribe(topics.analysis_set, switch.handle)
    if config.homeassistant.enabled:
        HomeAssistantDiscovery(
            publisher,
            topics,
            discovery_prefix=config.homeassistant.discovery_prefix,
            device_name=config.device.name,
        ).start()
    stack.enter_context(publisher)
    telemetry = Telemetry(
        interval_s=config.telemetry.interval_s,
        topics=topics,
        outbox=outbox,
        publish=publisher.publish_live,
        reconnects=lambda: publisher.stats().reconnects,
        analysis=lambda: switch.enabled,
    )
    return MqttService(outbox, publisher, switch, telemetry.tick)
