"""Payloads: schema-valid, allowlisted fields only, topics built in one place."""

from __future__ import annotations

import json
from typing import Any

from edge.publish.message import ModelIds, encode, iso_utc
from edge.publish.topics import Topics
from edge.publish.window import window_message, window_payload
from edge.types import EXPRESSIONS, Window

MODELS = ModelIds("blazeface_full_range@99bf9494d84f", "edge_fer_cnn_int8@b58a41733cf2")


def window(suppressed: bool) -> Window:
    shares = dict.fromkeys(EXPRESSIONS, 0.0) | {"happy": 0.6, "neutral": 0.4}
    return Window(
        start_s=1_764_100_800.0,
        end_s=1_764_100_860.0,
        faces=2 if suppressed else 5,
        mean_faces_present=1.5,
        median_dwell_s=12.0,
        expressions=None if suppressed else shares,
        dominant=None if suppressed else "happy",
        dominant_counts=(
            None if suppressed else dict.fromkeys(EXPRESSIONS, 0) | {"happy": 3, "neutral": 2}
        ),
        valence=None if suppressed else 0.6,
        confidence=None if suppressed else 0.8,
        frames=600,
        suppressed=suppressed,
        partial=False,
    )


def test_topics() -> None:
    """Topics are {prefix}/{device}/emotions and {prefix}/{device}/status."""
    topics = Topics("site/hall", "pi-7")
    assert topics.emotions == "site/hall/pi-7/emotions"
    assert topics.status == "site/hall/pi-7/status"


def test_iso_utc() -> None:
    """Times are ISO 8601 UTC with milliseconds and a Z suffix."""
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_764_100_800.25) == "2025-11-25T20:00:00.250Z"


def test_payload_validates_against_schema(validate_payload: Any) -> None:
    """Both suppressed and published windows validate against the shipped JSON Schema."""
    for suppressed in (False, True):
        doc = window_payload(window(suppressed), seq=7, device_id="pi-7", models=MODELS)
        validate_payload(json.loads(encode(doc)))


def test_schema_rejects_shares_in_suppressed_window(validate_payload: Any) -> None:
    """The schema itself forbids expression shares in a suppressed window."""
    import pytest

    from edge.contract import PayloadError

    doc = window_payload(window(True), seq=1, device_id="pi-7", models=MODELS)
    doc["expressions"] = dict.fromkeys(EXPRESSIONS, 1 / 7)
    with pytest.raises(PayloadError, match="expressions"):
        validate_payload(doc)


def test_epoch_is_optional_and_checked(validate_payload: Any) -> None:
    """A window carries the outbox epoch when it has one (16 hex digits, valid), windows
    without it (earlier versions, a bench) stay valid, and a malformed epoch is refused."""
    import pytest

    from edge.contract import PayloadError

    with_epoch = window_payload(
        window(False), seq=1, device_id="pi-7", models=MODELS, epoch="00c0ffee12345678"
    )
    assert with_epoch["epoch"] == "00c0ffee12345678"
    validate_payload(json.loads(encode(with_epoch)))
    without = window_payload(window(False), seq=1, device_id="pi-7", models=MODELS)
    assert "epoch" not in without
    validate_payload(without)
    with pytest.raises(PayloadError, match="epoch"):
        validate_payload({**with_epoch, "epoch": "XYZ"})


def test_payload_carries_no_per_person_data() -> None:
    """No image, box, landmark, embedding or track id key can appear in a payload."""
    doc = window_payload(window(False), seq=1, device_id="pi-7", models=MODELS)
    text = json.dumps(doc)
    for forbidden in ("box", "image", "crop", "landmark", "track", "embedding", "eye", "bbox"):
        assert forbidden not in text
    assert doc["schema"] == "edge.emotions/1"
    assert doc["seq"] == 1


def test_window_message_topic_and_qos() -> None:
    """A window message goes to the emotions topic at the configured QoS, not retained."""
    msg = window_message(window(False), seq=3, topics=Topics("edge", "pi"), models=MODELS, qos=1)
    assert (msg.topic, msg.qos, msg.retain) == ("edge/pi/emotions", 1, False)
    assert json.loads(msg.payload)["seq"] == 3
