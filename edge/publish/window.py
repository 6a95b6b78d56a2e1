"""The ``edge.emotions/1`` window payload, and the publisher side that numbers and encodes
each closed window.

Pure apart from :class:`WindowPublisher`, which only calls the sequence source and the
transports it is given. What a payload may carry is decided here and nowhere else: never
images, crops, boxes, landmarks, embeddings or track ids. Every payload validates against
``edge/schemas/emotions-1.schema.json`` (documented in docs/mqtt.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from edge.publish.message import ModelIds, OutboundMessage, encode, iso_utc
from edge.publish.topics import Topics
from edge.types import Window

log = logging.getLogger(__name__)

SCHEMA_ID = "edge.emotions/1"


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _dp_field(window: Window) -> dict[str, Any]:
    """``dp`` (only when the numbers carry differential-privacy noise; see edge.privacy.dp)."""
    if window.dp is None:
        return {}
    return {
        "dp": {
            "epsilon": window.dp.epsilon,
            "counts_scale": round(window.dp.counts_scale, 4),
            "shares_scale": round(window.dp.shares_scale, 4),
        }
    }


def window_payload(
    window: Window, *, seq: int, device_id: str, models: ModelIds, epoch: str | None = None
) -> dict[str, Any]:
    """The ``edge.emotions/1`` document for one window. ``epoch`` is the outbox's epoch
    (absent when the sequence source has none, e.g. a bench)."""
    return {
        "schema": SCHEMA_ID,
        "device": device_id,
        **({} if epoch is None else {"epoch": epoch}),
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
        "camera_lost_s": round(window.camera_lost_s, 1),
        **_dp_field(window),
        "model": {"detector": models.detector, "classifier": models.classifier},
    }


def window_message(
    window: Window,
    *,
    seq: int,
    topics: Topics,
    models: ModelIds,
    qos: int,
    epoch: str | None = None,
) -> OutboundMessage:
    """The message for one window on ``{prefix}/{device}/emotions``."""
    document = window_payload(
        window, seq=seq, device_id=topics.device_id, models=models, epoch=epoch
    )
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


class SeqSource(Protocol):
    """Where window sequence numbers come from (the outbox, which commits them with the row)."""

    @property
    def last(self) -> int: ...

    def next(self) -> int: ...


class Transport(Protocol):
    """Where encoded window messages go (MQTT, stdout in the demo, a list in tests)."""

    def send(self, message: OutboundMessage) -> None: ...


class WindowPublisher:
    """The publisher side of the pipeline: numbers each closed window, encodes it once and
    hands the message to every transport. The pipeline knows windows, not payloads."""

    def __init__(
        self,
        seq: SeqSource,
        transports: Sequence[Transport],
        *,
        topics: Topics,
        models: ModelIds,
        qos: int,
        epoch: str | None = None,
    ) -> None:
        self._seq = seq
        self._epoch = epoch
        self._transports = transports
        self._topics = topics
        self._models = models
        self._qos = qos
        self.windows = 0

    @property
    def last_seq(self) -> int:
        return self._seq.last

    def window_closed(self, window: Window) -> None:
        seq = self._seq.next()
        message = window_message(
            window,
            seq=seq,
            topics=self._topics,
            models=self._models,
            qos=self._qos,
            epoch=self._epoch,
        )
        for transport in self._transports:
            transport.send(message)
        self.windows += 1
        log.info(
            "window seq=%d faces=%d frames=%d suppressed=%s partial=%s",
            seq,
            window.faces,
            window.frames,
            window.suppressed,
            window.partial,
        )
