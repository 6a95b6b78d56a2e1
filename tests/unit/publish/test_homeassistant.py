"""Home Assistant device discovery, checked field by field against HA's documented options."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from edge.publish.homeassistant import (
    CAMERA_AVAILABLE,
    HA_BIRTH_HOLDOFF_S,
    HA_REPUBLISH_DELAY_S,
    WINDOW_SENSORS,
    DiscoveryMemory,
    HomeAssistantDiscovery,
    ha_discovery_message,
)
from edge.publish.message import ModelIds
from edge.publish.topics import Topics
from edge.publish.window import state_message, window_message
from edge.types import EXPRESSIONS, Window

TOPICS = Topics("edge", "lobby-pi")

# Options documented for MQTT device discovery (home-assistant.io/integrations/mqtt):
# the shared root options, the device and origin mappings, and the per-platform options of
# the sensor and switch integrations that we use.
ROOT_KEYS = {"device", "origin", "components", "availability", "availability_mode", "qos",
             "state_topic", "command_topic", "encoding"}
DEVICE_KEYS = {"identifiers", "connections", "name", "manufacturer", "model", "model_id",
               "sw_version", "hw_version", "serial_number", "suggested_area", "via_device",
               "configuration_url"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
COMMON = {"platform", "unique_id", "name", "icon", "entity_category", "object_id",
          "enabled_by_default", "availability", "availability_mode", "qos",
          "json_attributes_topic"}
SENSOR_KEYS = COMMON | {"state_topic", "value_template", "unit_of_measurement",
                        "state_class", "device_class", "options", "expire_after",
                        "force_update", "suggested_display_precision"}
SWITCH_KEYS = COMMON | {"command_topic", "state_topic", "payload_on", "payload_off",
                        "state_on", "state_off", "optimistic", "retain", "value_template",
                        "device_class"}
STATE_CLASSES = {"measurement", "total", "total_increasing", "measurement_angle"}
ENTITY_CATEGORIES = {"config", "diagnostic"}


def _discovery() -> tuple[str, dict[str, Any], bool]:
    msg = ha_discovery_message(TOPICS, discovery_prefix="homeassistant", device_name="Lobby",
                               version="0.1.0")
    return msg.topic, json.loads(msg.payload), msg.retain


def _render(template: str, doc: dict[str, Any]) -> Any:
    """Evaluate the two template forms we publish (HA renders them with Jinja)."""
    plain = re.fullmatch(r"\{\{ value_json\.([\w.]+) \}\}", template)
    if plain:
        value: Any = doc
        for part in plain.group(1).split("."):
            value = value[part]
        return value
    share = re.fullmatch(r"\{\{ \(value_json\.expressions\.(\w+) \* 100\) \| round\(1\) "
                         r"if value_json\.expressions else None \}\}", template)
    assert share, f"unexpected template form {template!r}"
    expressions = doc["expressions"]
    return round(expressions[share.group(1)] * 100, 1) if expressions else None


def _window(suppressed: bool) -> dict[str, Any]:
    shares = dict.fromkeys(EXPRESSIONS, 0.0) | {"happy": 0.75, "neutral": 0.25}
    window = Window(0.0, 60.0, 2 if suppressed else 4, 1.5, 3.0,
                    None if suppressed else shares, None if suppressed else "happy",
                    None if suppressed else dict.fromkeys(EXPRESSIONS, 1),
                    None if suppressed else 0.75, None if suppressed else 0.8, 600,
                    suppressed, False)
    msg = window_message(window, seq=1, topics=TOPICS, models=ModelIds("d", "c"), qos=1)
    return json.loads(state_message(msg, TOPICS).payload)


def test_topic_root_device_origin_availability() -> None:
    """Retained on homeassistant/device/{id}/config; device, origin and availability blocks
    hold only documented keys and point at our status topic."""
    topic, doc, retain = _discovery()
    assert topic == "homeassistant/device/lobby-pi/config" and retain
    assert set(doc) <= ROOT_KEYS and {"device", "origin", "components"} <= set(doc)
    assert set(doc["device"]) <= DEVICE_KEYS
    assert doc["device"]["identifiers"] == ["edge_lobby-pi"] and doc["device"]["name"] == "Lobby"
    assert doc["device"]["sw_version"] == "0.1.0"
    assert set(doc["origin"]) <= ORIGIN_KEYS and doc["origin"]["name"] == "edge-emotion"
    assert doc["availability"] == [
        {"topic": "edge/lobby-pi/status", "payload_available": "online",
         "payload_not_available": "offline"}
    ]
    assert doc["qos"] == 1


def test_components_field_by_field() -> None:
    """Every component has a platform, a unique id and only documented options; sensors
    read our state/telemetry topics, the switch commands analysis/set."""
    _topic, doc, _retain = _discovery()
    components = doc["components"]
    expected = {"faces", "dominant", "valence", "fps", "outbox", "camera", "analysis", *EXPRESSIONS}
    assert set(components) == expected
    unique_ids = [c["unique_id"] for c in components.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for key, comp in components.items():
        assert comp["unique_id"] == f"edge_lobby-pi_{key}"
        assert isinstance(comp["name"], str) and comp["name"]
        allowed = SENSOR_KEYS if comp["platform"] == "sensor" else SWITCH_KEYS
        assert comp["platform"] in {"sensor", "switch"}
        assert set(comp) <= allowed, (key, set(comp) - allowed)
        assert comp.get("state_class", "measurement") in STATE_CLASSES
        assert comp.get("entity_category", "config") in ENTITY_CATEGORIES
        assert comp["state_topic"] in {TOPICS.state, TOPICS.telemetry, TOPICS.analysis_state}
        assert comp["qos"] == 1, key  # HA ignores a root-level qos
    assert components["dominant"]["device_class"] == "enum"
    assert components["dominant"]["options"] == list(EXPRESSIONS)
    assert components["happy"]["unit_of_measurement"] == "%"
    assert components["fps"]["state_topic"] == TOPICS.telemetry
    assert components["camera"]["state_topic"] == TOPICS.telemetry
    assert "camera.state" in components["camera"]["value_template"]
    switch = components["analysis"]
    assert switch["command_topic"] == "edge/lobby-pi/analysis/set"
    assert switch["state_topic"] == "edge/lobby-pi/analysis/state"
    assert (switch["payload_on"], switch["payload_off"]) == ("ON", "OFF")
    assert (switch["state_on"], switch["state_off"]) == ("ON", "OFF")


def test_state_templates_respect_k_anonymity() -> None:
    """The window sensors render real values when k is reached and None (HA: unknown) when the
    window is suppressed; the face count is always there."""
    _topic, doc, _retain = _discovery()
    components = doc["components"]
    full, suppressed = _window(False), _window(True)
    assert _render(components["happy"]["value_template"], full) == 75.0
    assert _render(components["dominant"]["value_template"], full) == "happy"
    assert _render(components["faces"]["value_template"], suppressed) == 2
    for key in ("dominant", "valence", *EXPRESSIONS):
        assert _render(components[key]["value_template"], suppressed) is None, key
    tele = {"fps_processed": 9.5, "outbox": {"depth": 3}}
    assert _render(components["fps"]["value_template"], tele) == 9.5
    assert _render(components["outbox"]["value_template"], tele) == 3


def test_window_sensors_need_online_analysis_on_and_camera_ok() -> None:
    """Window sensors are available only when all three hold (availability_mode all): status
    online, analysis/state ON, telemetry camera.state ok; diagnostic sensors and the switch
    follow the status topic alone."""
    _topic, doc, _retain = _discovery()
    for key, comp in doc["components"].items():
        if key in WINDOW_SENSORS:
            assert comp["availability_mode"] == "all"
            assert [a["topic"] for a in comp["availability"]] == [
                TOPICS.status, TOPICS.analysis_state, TOPICS.telemetry]
            assert comp["availability"][1]["payload_not_available"] == "OFF"
            assert comp["availability"][2]["value_template"] == CAMERA_AVAILABLE
        else:
            assert "availability" not in comp, key  # the root availability (status) applies
    assert "camera.state == 'ok'" in CAMERA_AVAILABLE  # rendered by HA in test_ha_real


class _FakePublisher:
    def __init__(self) -> None:
        self.live: list[Any] = []
        self.confirmed: list[tuple[Any, Any]] = []
        self.subs: dict[str, Any] = {}
        self.later: list[tuple[float, Any]] = []

    def publish_live(self, message: Any) -> None:
        self.live.append(message)

    def publish_confirmed(self, message: Any, on_acked: Any) -> None:
        self.confirmed.append((message, on_acked))

    def subscribe(self, topic: str, handler: Any) -> None:
        self.subs[topic] = handler

    def call_later(self, delay_s: float, fn: Any) -> None:
        self.later.append((delay_s, fn))


def _ha(pub: _FakePublisher, memory: DiscoveryMemory, topics: Topics = TOPICS) -> Any:
    return HomeAssistantDiscovery(pub, topics, discovery_prefix="homeassistant",  # type: ignore[arg-type]
                                  device_name=None, memory=memory, rand=lambda: 0.5)


def test_births_are_debounced_into_one_reannouncement(tmp_path: Path) -> None:
    """50 `online` births before the delay ends give one re-announcement, after a delay in
    the documented range; other payloads do nothing; births within the hold-off after it are
    folded into it too, and a birth after the hold-off schedules a new one."""
    pub = _FakePublisher()
    now = [0.0]
    ha = _ha(pub, DiscoveryMemory(tmp_path / "announced"))
    ha._clock = lambda: now[0]
    ha.start(enabled=True)
    assert len(pub.live) == 1 and "homeassistant/status" in pub.subs
    birth = pub.subs["homeassistant/status"]
    birth(b"offline")
    assert pub.later == []
    for _ in range(50):
        birth(b"online")
    assert len(pub.later) == 1
    low, high = HA_REPUBLISH_DELAY_S
    assert low <= pub.later[0][0] <= high
    pub.later[0][1]()
    assert len(pub.live) == 2 and pub.live[1].topic == "homeassistant/device/lobby-pi/config"
    now[0] = HA_BIRTH_HOLDOFF_S - 1
    birth(b"online")
    assert len(pub.later) == 1
    now[0] = HA_BIRTH_HOLDOFF_S + 1
    birth(b"online")
    assert len(pub.later) == 2


def test_stale_discovery_is_removed_once_acknowledged(tmp_path: Path) -> None:
    """The announced topic is remembered in the state dir; a start with another device id
    clears the old one with an empty retained payload and forgets it only on the broker's
    acknowledgement; turning discovery off clears the current one and announces nothing."""
    memory = DiscoveryMemory(tmp_path / "announced")
    _ha(_FakePublisher(), memory).start(enabled=True)
    assert memory.read() == ["homeassistant/device/lobby-pi/config"]

    pub = _FakePublisher()
    _ha(pub, memory, Topics("edge", "hall-pi")).start(enabled=True)
    (clear, acked), = pub.confirmed
    assert (clear.topic, clear.payload, clear.retain) == (
        "homeassistant/device/lobby-pi/config", b"", True)
    assert memory.read() == ["homeassistant/device/lobby-pi/config",
                             "homeassistant/device/hall-pi/config"]
    acked()
    assert memory.read() == ["homeassistant/device/hall-pi/config"]

    off = _FakePublisher()
    _ha(off, memory, Topics("edge", "hall-pi")).start(enabled=False)
    assert off.live == [] and off.subs == {}
    assert [m.topic for m, _ in off.confirmed] == ["homeassistant/device/hall-pi/config"]
    off.confirmed[0][1]()
    assert memory.read() == []
