"""Topics and JSON payloads: the only place topic strings and wire payloads are built.

Pure. What a payload may carry is decided here and nowhere else: never images, crops, boxes,
landmarks, embeddings or track ids. Every payload validates against
``edge/schemas/emotions-1.schema.json`` (documented in docs/mqtt.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.types import EXPRESSIONS, Window

SCHEMA_ID = "edge.emotions/1"
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one device under one prefix."""

    prefix: str
    device_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def emotions(self) -> str:
        return f"{self.base}/emotions"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        """Retained copy of the latest window (Home Assistant sensors read it)."""
        return f"{self.base}/state"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def analysis_set(self) -> str:
        """Commands ``ON``/``OFF`` that resume/pause analysis."""
        return f"{self.base}/analysis/set"

    @property
    def analysis_state(self) -> str:
        return f"{self.base}/analysis/state"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One MQTT message ready to send."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = False
    #: Window messages only: their ``seq`` and the UNIX time the window closed (its end). Such
    #: messages go through the durable outbox (:mod:`edge.publish.outbox`).
    seq: int | None = None
    due_s: float | None = None


@dataclass(frozen=True, slots=True)
class ModelIds:
    """Identifiers of the models that produced a window (id@sha256-prefix)."""

    detector: str
    classifier: str


def iso_utc(t_s: float) -> str:
    """UNIX seconds as ISO 8601 UTC with milliseconds, e.g. 2026-11-25T20:01:00.000Z."""
    stamp = datetime.fromtimestamp(t_s, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _dp_field(window: Window) -> dict[str, Any]:
    """``dp`` (only when the numbers carry differential-privacy noise; see edge.dp)."""
    if window.dp is None:
        return {}
    return {
        "dp": {
            "epsilon": window.dp.epsilon,
            "counts_scale": round(window.dp.counts_scale, 4),
            "shares_scale": round(window.dp.shares_scale, 4),
        }
    }


def window_payload(window: Window, *, seq: int, device_id: str, models: ModelIds) -> dict[str, Any]:
    """The ``edge.emotions/1`` document for one window."""
    return {
        "schema": SCHEMA_ID,
        "device": device_id,
        "seq": seq,
        "window_start": iso_utc(window.start_s),
        "window_end": iso_utc(window.end_s),
        "duration_s": round(window.end_s - window.start_s, 3),
        "faces": window.faces,
        "mean_faces_present": round(window.mean_faces_present, 3),
        "median_dwell_s": _r(window.median_dwell_s, 2),
        "expressions": (
            None
            if window.expressions is None
            else {k: round(v, 4) for k, v in window.expressions.items()}
        ),
        "dominant": window.dominant,
        "dominant_counts": window.dominant_counts,
        "valence": _r(window.valence),
        "confidence": _r(window.confidence),
        "frames": window.frames,
        "suppressed": window.suppressed,
        "partial": window.partial,
        "historical": False,
        **_dp_field(window),
        "model": {"detector": models.detector, "classifier": models.classifier},
    }


def encode(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in a stable order."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def window_message(
    window: Window, *, seq: int, topics: Topics, models: ModelIds, qos: int
) -> OutboundMessage:
    """The message for one window on ``{prefix}/{device}/emotions``."""
    document = window_payload(window, seq=seq, device_id=topics.device_id, models=models)
    return OutboundMessage(topics.emotions, encode(document), qos, seq=seq, due_s=window.end_s)


def as_historical(payload: bytes) -> bytes:
    """The same window payload with ``historical: true`` (delivered after it was due; the rule
    is :func:`edge.publish.outbox.is_historical`). Everything else, times included, is kept."""
    document = json.loads(payload)
    document["historical"] = True
    return encode(document)


def state_message(window: OutboundMessage, topics: Topics) -> OutboundMessage:
    """The retained latest-window copy on ``{prefix}/{device}/state``: byte for byte the
    window's own payload, so it carries exactly what the window may carry (k-anonymity
    included) and nothing more."""
    return OutboundMessage(topics.state, window.payload, 1, retain=True)


# ----------------------------------------------------------------------------- remote pause

ANALYSIS_ON = "ON"
ANALYSIS_OFF = "OFF"


def parse_switch(payload: bytes) -> bool | None:
    """Exactly ``ON`` -> True, exactly ``OFF`` -> False (what Home Assistant's switch sends);
    anything else -> None, which the caller ignores."""
    return {b"ON": True, b"OFF": False}.get(payload)


def analysis_state_message(topics: Topics, enabled: bool) -> OutboundMessage:
    """Retained ``ON``/``OFF`` on ``{prefix}/{device}/analysis/state``."""
    text = ANALYSIS_ON if enabled else ANALYSIS_OFF
    return OutboundMessage(topics.analysis_state, text.encode(), 1, retain=True)


# ----------------------------------------------------------------------------- telemetry

TELEMETRY_SCHEMA_ID = "edge.telemetry/1"


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    """Health numbers for one telemetry message (no image-derived data beyond a face count)."""

    time_s: float
    uptime_s: float
    version: str
    analysis: bool
    fps_in: float
    fps_processed: float
    frames_dropped: int
    detect_ms: tuple[float, float] | None
    classify_ms: tuple[float, float] | None
    faces_now: int | None
    mqtt_reconnects: int
    outbox_depth: int
    outbox_bytes: int
    outbox_oldest_s: float | None
    dropped: dict[str, int]
    soc_temp_c: float | None = None
    throttled: int | None = None


#: ``vcgencmd get_throttled`` bits (Raspberry Pi documentation).
THROTTLE_BITS: dict[str, int] = {
    "under_voltage": 0,
    "freq_capped": 1,
    "throttled": 2,
    "soft_temp_limit": 3,
    "under_voltage_occurred": 16,
    "freq_capped_occurred": 17,
    "throttled_occurred": 18,
    "soft_temp_limit_occurred": 19,
}


def _pcts(values: tuple[float, float] | None) -> dict[str, float] | None:
    return None if values is None else {"p50": round(values[0], 2), "p95": round(values[1], 2)}


def telemetry_payload(
    sample: TelemetrySample, *, device_id: str, models: ModelIds
) -> dict[str, Any]:
    """The ``edge.telemetry/1`` document; Pi-only fields are absent elsewhere."""
    oldest = sample.outbox_oldest_s
    document: dict[str, Any] = {
        "schema": TELEMETRY_SCHEMA_ID,
        "device": device_id,
        "time": iso_utc(sample.time_s),
        "uptime_s": round(sample.uptime_s, 1),
        "version": sample.version,
        "model": {"detector": models.detector, "classifier": models.classifier},
        "analysis": ANALYSIS_ON if sample.analysis else ANALYSIS_OFF,
        "fps_in": round(sample.fps_in, 2),
        "fps_processed": round(sample.fps_processed, 2),
        "frames_dropped": sample.frames_dropped,
        "detect_ms": _pcts(sample.detect_ms),
        "classify_ms": _pcts(sample.classify_ms),
        "faces_now": sample.faces_now,
        "mqtt_reconnects": sample.mqtt_reconnects,
        "outbox": {
            "depth": sample.outbox_depth,
            "bytes": sample.outbox_bytes,
            "oldest_age_s": None if oldest is None else round(max(0.0, sample.time_s - oldest), 1),
            "dropped": dict(sample.dropped),
        },
    }
    if sample.soc_temp_c is not None:
        document["soc_temp_c"] = round(sample.soc_temp_c, 1)
    if sample.throttled is not None:
        flags = {name: bool(sample.throttled >> bit & 1) for name, bit in THROTTLE_BITS.items()}
        document["throttled"] = {"raw": f"0x{sample.throttled:x}", **flags}
    return document


def telemetry_message(
    sample: TelemetrySample, *, topics: Topics, models: ModelIds
) -> OutboundMessage:
    """Not retained, QoS 0: a live reading, skipped while disconnected."""
    document = telemetry_payload(sample, device_id=topics.device_id, models=models)
    return OutboundMessage(topics.telemetry, encode(document), 0)


# ----------------------------------------------------------------------------- Home Assistant

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
