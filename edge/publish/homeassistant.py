"""Home Assistant MQTT device discovery: the retained document, re-announcing it after Home
Assistant's ``online`` birth message (debounced), and removing a discovery that is no longer
ours (turned off, or the device id changed) with an empty retained payload.

Every component carries ``qos`` (Home Assistant ignores it at the root). The window sensors
are available only while the device is online, analysis is ON and the camera delivers
(``availability_mode: all`` over the status topic, ``analysis/state`` and the retained
telemetry's ``camera.state``); the diagnostic sensors read the retained telemetry.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge import __version__
from edge.publish.control import ANALYSIS_OFF, ANALYSIS_ON
from edge.publish.message import OutboundMessage, encode
from edge.publish.mqtt import MqttPublisher
from edge.publish.topics import STATUS_OFFLINE, STATUS_ONLINE, Topics
from edge.types import EXPRESSIONS

log = logging.getLogger(__name__)

HA_ORIGIN = "edge-emotion"
#: QoS of every component's subscriptions and of the switch's commands.
HA_QOS = 1
#: Components fed by the window on ``state``: unavailable while paused or the camera is lost.
WINDOW_SENSORS = ("faces", "dominant", "valence", *EXPRESSIONS)
#: Telemetry's ``camera.state`` as availability: anything but ``ok`` (or no camera field,
#: from a version without it) means the window numbers are not current.
CAMERA_AVAILABLE = (
    "{{ 'online' if value_json.camera is not defined or value_json.camera.state == 'ok' "
    "else 'offline' }}"
)


def ha_discovery_topic(discovery_prefix: str, device_id: str) -> str:
    return f"{discovery_prefix}/device/{device_id}/config"


def ha_birth_topic(discovery_prefix: str) -> str:
    """Where Home Assistant announces ``online`` after it (re)starts."""
    return f"{discovery_prefix}/status"


#: Sensors: (key, name, source topic, value template, extra options). Templates render
#: ``None`` (Home Assistant shows "unknown") where the window is suppressed (k-anonymity).
_HA_SENSORS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("faces", "Faces", "state", "{{ value_json.faces }}",
     {"state_class": "measurement", "icon": "mdi:account-group"}),
    ("dominant", "Dominant expression", "state", "{{ value_json.dominant }}",
     {"device_class": "enum", "options": list(EXPRESSIONS), "icon": "mdi:emoticon-outline"}),
    ("valence", "Valence", "state", "{{ value_json.valence }}",
     {"state_class": "measurement", "icon": "mdi:plus-minus-variant"}),
    *(
        (label, f"{label.capitalize()} share", "state",
         f"{{{{ (value_json.expressions.{label} * 100) | round(1) "
         "if value_json.expressions else None }}",
         {"unit_of_measurement": "%", "state_class": "measurement", "icon": "mdi:chart-pie"})
        for label in EXPRESSIONS
    ),
    ("fps", "Frames per second", "telemetry", "{{ value_json.fps_processed }}",
     {"unit_of_measurement": "fps", "state_class": "measurement",
      "entity_category": "diagnostic"}),
    ("outbox", "Outbox depth", "telemetry", "{{ value_json.outbox.depth }}",
     {"state_class": "measurement", "entity_category": "diagnostic", "icon": "mdi:tray-full"}),
    ("camera", "Camera", "telemetry",
     "{{ value_json.camera.state if value_json.camera is defined else None }}",
     {"entity_category": "diagnostic", "icon": "mdi:cctv"}),
)  # fmt: skip


def _status_availability(topics: Topics) -> dict[str, str]:
    return {
        "topic": topics.status,
        "payload_available": STATUS_ONLINE,
        "payload_not_available": STATUS_OFFLINE,
    }


def window_availability(topics: Topics) -> list[dict[str, str]]:
    """Online, analysis ON, camera delivering: all three (``availability_mode: all``)."""
    return [
        _status_availability(topics),
        {
            "topic": topics.analysis_state,
            "payload_available": ANALYSIS_ON,
            "payload_not_available": ANALYSIS_OFF,
        },
        {
            "topic": topics.telemetry,
            "value_template": CAMERA_AVAILABLE,
            "payload_available": "online",
            "payload_not_available": "offline",
        },
    ]


def _ha_components(topics: Topics) -> dict[str, dict[str, Any]]:
    uid = f"edge_{topics.device_id}"
    sources = {"state": topics.state, "telemetry": topics.telemetry}
    gated = {"availability": window_availability(topics), "availability_mode": "all"}
    components: dict[str, dict[str, Any]] = {
        key: {
            "platform": "sensor",
            "unique_id": f"{uid}_{key}",
            "name": name,
            "state_topic": sources[source],
            "value_template": template,
            "qos": HA_QOS,
            **extra,
            **(gated if key in WINDOW_SENSORS else {}),
        }
        for key, name, source, template, extra in _HA_SENSORS
    }
    components["analysis"] = {
        "platform": "switch",
        "unique_id": f"{uid}_analysis",
        "name": "Analysis",
        "command_topic": topics.analysis_set,
        "state_topic": topics.analysis_state,
        "payload_on": ANALYSIS_ON,
        "payload_off": ANALYSIS_OFF,
        "state_on": ANALYSIS_ON,
        "state_off": ANALYSIS_OFF,
        "entity_category": "config",
        "icon": "mdi:face-recognition",
        "qos": HA_QOS,
    }
    return components


def ha_discovery_message(
    topics: Topics, *, discovery_prefix: str, device_name: str | None, version: str
) -> OutboundMessage:
    """Home Assistant device discovery: one retained document for all entities."""
    document = {
        "device": {
            "identifiers": [f"edge_{topics.device_id}"],
            "name": device_name or topics.device_id,
            "manufacturer": "edge-emotion",
            "model": "Facial-expression sensor",
            "sw_version": version,
        },
        "origin": {"name": HA_ORIGIN, "sw_version": version},
        "availability": [_status_availability(topics)],
        "qos": HA_QOS,
        "components": _ha_components(topics),
    }
    topic = ha_discovery_topic(discovery_prefix, topics.device_id)
    return OutboundMessage(topic, encode(document), 1, retain=True)


#: Home Assistant's birth message is answered after a random delay in this range (seconds),
#: so a fleet of sensors does not answer at the same instant; births that arrive while an
#: answer is pending are folded into it (one re-announcement).
HA_REPUBLISH_DELAY_S = (1.0, 5.0)
#: ... and so are births up to this long after an answer: a burst of births (a restart loop,
#: several HA instances, a flapping link) costs one re-announcement. Discovery is retained,
#: so a Home Assistant that starts within this time still receives it from the broker.
HA_BIRTH_HOLDOFF_S = 30.0


class DiscoveryMemory:
    """``<state dir>/homeassistant-announced``: the discovery topics we published retained and
    have not cleared yet, one per line, so a later start can remove them. Write errors are
    logged, never raised (a full disk must not stop the service)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s (%s): old discovery is not removed", self.path, exc)
            return []
        return [line for line in text.splitlines() if line.strip()]

    def write(self, topics: list[str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write("".join(f"{t}\n" for t in topics))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning(
                "cannot write %s (%s): a later start may not remove this discovery; free space "
                "in the state directory",
                self.path,
                exc.strerror or exc,
            )

    def add(self, topic: str) -> None:
        known = self.read()
        if topic not in known:
            self.write([*known, topic])

    def remove(self, topic: str) -> None:
        known = self.read()
        if topic in known:
            self.write([t for t in known if t != topic])


class HomeAssistantDiscovery:
    """Retained device discovery, re-published after Home Assistant's ``online`` birth;
    stale discovery (turned off, or another device id) removed."""

    def __init__(
        self,
        publisher: MqttPublisher,
        topics: Topics,
        *,
        discovery_prefix: str,
        device_name: str | None,
        memory: DiscoveryMemory,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publisher = publisher
        self._message = ha_discovery_message(
            topics, discovery_prefix=discovery_prefix, device_name=device_name, version=__version__
        )
        self._birth = ha_birth_topic(discovery_prefix)
        self._memory = memory
        self._rand = rand
        self._clock = clock
        self._pending = False
        self._answered_at = float("-inf")

    def start(self, *, enabled: bool) -> None:
        """Clear every remembered discovery that is not the current one, then (when enabled)
        announce the current one and answer Home Assistant's births."""
        current = self._message.topic if enabled else None
        for topic in self._memory.read():
            if topic != current:
                log.info("Home Assistant: removing the discovery on %s (no longer ours)", topic)
                clear = OutboundMessage(topic, b"", HA_QOS, retain=True)
                self._publisher.publish_confirmed(clear, self._forget(topic))
        if current is None:
            return
        self._memory.add(current)  # before publishing: a crash must not forget it
        self._publisher.publish_live(self._message)
        self._publisher.subscribe(self._birth, self.on_birth)

    def _forget(self, topic: str) -> Callable[[], None]:
        return lambda: self._memory.remove(topic)

    def on_birth(self, payload: bytes) -> None:
        if payload.strip() != b"online" or self._pending:
            return
        if self._clock() - self._answered_at < HA_BIRTH_HOLDOFF_S:
            return  # part of the burst just answered
        self._pending = True
        low, high = HA_REPUBLISH_DELAY_S
        delay = low + (high - low) * self._rand()
        self._publisher.call_later(delay, self._announce)

    def _announce(self) -> None:
        self._pending = False
        self._answered_at = self._clock()
        self._publisher.publish_live(self._message)
