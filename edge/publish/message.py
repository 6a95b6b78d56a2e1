"""One MQTT message ready to send, the model ids every payload names, and JSON encoding.

Pure. The payload modules (:mod:`~edge.publish.window`, :mod:`~edge.publish.telemetry`,
:mod:`~edge.publish.control`, :mod:`~edge.publish.homeassistant`) build these; the outbox and
the MQTT client send them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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


def encode(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in a stable order."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
