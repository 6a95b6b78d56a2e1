"""The ``edge.telemetry/1`` payload on ``{prefix}/{id}/telemetry``. Pure.

The numbers are sampled by :class:`edge.service.telemetry.Telemetry`; this module only decides
what the message carries (``edge/schemas/telemetry-1.schema.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.publish.control import ANALYSIS_OFF, ANALYSIS_ON
from edge.publish.message import ModelIds, OutboundMessage, encode, iso_utc
from edge.publish.topics import Topics
from edge.types import CameraStatus

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
    camera: CameraStatus | None = None


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
    if sample.camera is not None:
        document["camera"] = {
            "state": sample.camera.state,
            "since": iso_utc(sample.camera.since_s),
            "reopen_attempts": sample.camera.reopen_attempts,
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
    """QoS 0, retained: a live reading, skipped while disconnected; the broker keeps the latest
    so Home Assistant's diagnostic sensors and the camera availability have a value right
    after Home Assistant restarts (its ``time`` says how old it is)."""
    document = telemetry_payload(sample, device_id=topics.device_id, models=models)
    return OutboundMessage(topics.telemetry, encode(document), 0, retain=True)
