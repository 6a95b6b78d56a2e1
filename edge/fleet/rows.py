"""From received MQTT messages to database rows (pure: no I/O, time is a parameter).

A message is classified by its topic (``{prefix}/{device}/{kind}``) and decoded with the
shared contract decoder (:mod:`edge.contract`); anything that cannot be stored becomes a
:class:`DeadLetter` with its reason instead of an exception.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.contract import EMOTIONS_SCHEMA, TELEMETRY_SCHEMA, PayloadDecoder, PayloadError
from edge.publish.topics import STATUS_OFFLINE, STATUS_ONLINE
from edge.types import EXPRESSIONS

#: Bytes of a dead letter's payload kept in the database.
DEAD_LETTER_HEAD = 1024
#: Windows may start at most this far in the future (a device clock a little ahead).
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received message; ``mid``/``qos`` are what the acknowledgement needs, ``generation``
    the connection it arrived on (a packet id is only valid on its own connection)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_s: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: str
    detail: str
    size: int
    digest: bytes
    head: bytes


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    device: str
    status: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TelemetryUpdate:
    device: str
    at: datetime
    camera_state: str | None
    outbox_depth: int | None
    outbox_dropped: int | None
    soc_temp_c: float | None


@dataclass
class Batch:
    """What one transaction stores: window rows (JSON-ready), the latest status and
    telemetry per device, dead letters."""

    windows: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, StatusUpdate] = field(default_factory=dict)
    telemetry: dict[str, TelemetryUpdate] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    #: The message each window row came from (same order as ``windows``).
    sources: list[Incoming] = field(default_factory=list)

    @property
    def days(self) -> set[datetime]:
        """The UTC days (partitions) the window rows fall in."""
        return {day_of(parse_time(w["window_start"])) for w in self.windows}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def day_of(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def dead_letter(message: Incoming, reason: str, detail: str) -> DeadLetter:
    return DeadLetter(
        message.topic,
        reason,
        detail[:500],
        len(message.payload),
        hashlib.sha256(message.payload).digest(),
        message.payload[:DEAD_LETTER_HEAD],
    )


def window_row(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``emotion_windows`` row of a validated ``edge.emotions/1`` document."""
    shares = doc["expressions"] or {}
    dp = doc.get("dp")
    return {
        "device": doc["device"],
        "epoch": doc.get("epoch", ""),
        "seq": doc["seq"],
        "window_start": doc["window_start"],
        "window_end": doc["window_end"],
        "duration_s": doc["duration_s"],
        "faces": doc["faces"],
        "mean_faces_present": doc["mean_faces_present"],
        "median_dwell_s": doc["median_dwell_s"],
        **{name: shares.get(name) for name in EXPRESSIONS},
        "dominant": doc["dominant"],
        "dominant_counts": doc["dominant_counts"],
        "valence": doc["valence"],
        "confidence": doc["confidence"],
        "frames": doc["frames"],
        "suppressed": doc["suppressed"],
        "partial": doc["partial"],
        "historical": doc["historical"],
        "camera_lost_s": doc.get("camera_lost_s"),
        "dp_epsilon": None if dp is None else dp["epsilon"],
        "model_detector": doc["model"]["detector"],
        "model_classifier": doc["model"]["classifier"],
    }


def _telemetry(device: str, doc: dict[str, Any]) -> TelemetryUpdate:
    outbox = doc.get("outbox") or {}
    camera = doc.get("camera") or {}
    dropped = outbox.get("dropped")
    return TelemetryUpdate(
        device,
        parse_time(doc["time"]),
        camera.get("state"),
        outbox.get("depth"),
        None if not isinstance(dropped, dict) else sum(int(v) for v in dropped.values()),
        doc.get("soc_temp_c"),
    )


def split_topic(topic: str, prefix: str) -> tuple[str, str] | None:
    """``(device, kind)`` of ``{prefix}/{device}/{kind}``, or None for another topic."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head):].split("/")
    return (rest[0], rest[1]) if len(rest) == 2 and rest[0] else None


class BatchBuilder:
    """Classifies and decodes messages into a :class:`Batch` (validation happens here, so a
    bad message never reaches the database)."""

    def __init__(self, prefix: str, retention_days: int, decoder: PayloadDecoder) -> None:
        self._prefix = prefix
        self._retention = timedelta(days=retention_days) if retention_days else None
        self._decoder = decoder

    def build(self, messages: list[Incoming], now: datetime) -> Batch:
        batch = Batch()
        for message in messages:
            try:
                self._add(batch, message, now)
            except PayloadError as exc:
                batch.dead.append(dead_letter(message, exc.reason, str(exc)))
        return batch

    def _add(self, batch: Batch, message: Incoming, now: datetime) -> None:
        parts = split_topic(message.topic, self._prefix)
        if parts is None:
            raise PayloadError("topic", f"topic {message.topic!r} is not {self._prefix}/+/kind")
        device, kind = parts
        if kind == "status":
            text = message.payload.decode("utf-8", "replace")
            if text not in (STATUS_ONLINE, STATUS_OFFLINE):
                raise PayloadError("status", f"status {text[:40]!r} is not online/offline")
            at = datetime.fromtimestamp(message.received_s, UTC)
            batch.status[device] = StatusUpdate(device, text, at)
            return
        schema = {"emotions": EMOTIONS_SCHEMA, "telemetry": TELEMETRY_SCHEMA}.get(kind)
        if schema is None:
            raise PayloadError("topic", f"unexpected topic kind {kind!r}")
        doc = self._decoder.decode(message.payload, expect=schema)
        if doc["device"] != device:
            raise PayloadError(
                "device_mismatch", f"payload device {doc['device']!r} on the topic of {device!r}"
            )
        if kind == "telemetry":
            update = _telemetry(device, doc)
            known = batch.telemetry.get(device)
            if known is None or update.at >= known.at:
                batch.telemetry[device] = update
            return
        start = parse_time(doc["window_start"])
        if self._retention is not None and start < day_of(now) - self._retention:
            raise PayloadError("expired", f"window_start {doc['window_start']} is past retention")
        if start > now + FUTURE_SLACK:
            raise PayloadError("future", f"window_start {doc['window_start']} is in the future")
        batch.windows.append(window_row(doc))
        batch.sources.append(message)
