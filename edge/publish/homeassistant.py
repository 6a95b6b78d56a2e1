"""Home Assistant MQTT device discovery: the retained document, and re-announcing it after
Home Assistant's ``online`` birth message."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from edge import __version__
from edge.publish.control import ANALYSIS_OFF, ANALYSIS_ON
from edge.publish.message import OutboundMessage, encode
from edge.publish.mqtt import MqttPublisher
from edge.publish.topics import STATUS_OFFLINE, STATUS_ONLINE, Topics
from edge.types import EXPRESSIONS

HA_ORIGIN = "edge-emotion"


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
)  # fmt: skip


def _ha_components(topics: Topics) -> dict[str, dict[str, Any]]:
    uid = f"edge_{topics.device_id}"
    sources = {"state": topics.state, "telemetry": topics.telemetry}
    components: dict[str, dict[str, Any]] = {
        key: {
            "platform": "sensor",
            "unique_id": f"{uid}_{key}",
            "name": name,
            "state_topic": sources[source],
            "value_template": template,
            **extra,
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
        "availability": [
            {
                "topic": topics.status,
                "payload_available": STATUS_ONLINE,
                "payload_not_available": STATUS_OFFLINE,
            }
        ],
        "qos": 1,
        "components": _ha_components(topics),
    }
    topic = ha_discovery_topic(discovery_prefix, topics.device_id)
    return OutboundMessage(topic, encode(document), 1, retain=True)


#: Home Assistant's birth message is answered after a random delay in this range (seconds),
#: so a fleet of sensors does not answer at the same instant.
HA_REPUBLISH_DELAY_S = (1.0, 5.0)


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
