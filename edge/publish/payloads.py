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

from edge.types import Window

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


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One MQTT message ready to send."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = False


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
    return OutboundMessage(topics.emotions, encode(document), qos)
