"""The shared payload decoder (edge.contract): what it accepts and how it names a refusal."""

from __future__ import annotations

import json

import pytest

from edge.contract import MAX_PAYLOAD_BYTES, PayloadDecoder, PayloadError
from edge.publish.message import ModelIds, encode
from edge.publish.window import window_payload
from edge.types import Window

WINDOW = Window(
    start_s=1_700_000_000.0, end_s=1_700_000_060.0, faces=1, mean_faces_present=0.5,
    median_dwell_s=3.0, expressions=None, dominant=None, dominant_counts=None, valence=None,
    confidence=None, frames=600, suppressed=True, partial=False,
)
MODELS = ModelIds("det@000000000000", "cls@000000000000")


def _valid() -> bytes:
    return encode(window_payload(WINDOW, seq=3, device_id="pi", models=MODELS, epoch="1" * 16))


def test_decodes_a_device_window() -> None:
    """A payload encoded by the device's own code decodes to the same document."""
    doc = PayloadDecoder().decode(_valid())
    assert doc["seq"] == 3 and doc["epoch"] == "1" * 16


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "oversize"),
        (b"\xff\xfe\x00binary", "binary"),
        (b"{not json", "json"),
        (b"[1, 2]", "not_object"),
        (json.dumps({"schema": "edge.emotions/9"}).encode(), "unknown_schema"),
        (json.dumps({"schema": "edge.emotions/1", "seq": 0}).encode(), "schema"),
    ],
)
def test_refusals_carry_a_reason(payload: bytes, reason: str) -> None:
    """Oversize, binary, non-JSON, non-object, unknown-schema and invalid payloads are each
    refused with their own reason tag and a message."""
    with pytest.raises(PayloadError) as info:
        PayloadDecoder().decode(payload)
    assert info.value.reason == reason and str(info.value)


def test_expect_refuses_another_known_schema() -> None:
    """On the emotions topic a valid telemetry-looking schema id is refused as unknown."""
    doc = json.loads(_valid())
    doc["schema"] = "edge.telemetry/1"
    with pytest.raises(PayloadError) as info:
        PayloadDecoder().decode(json.dumps(doc).encode(), expect="edge.emotions/1")
    assert info.value.reason == "unknown_schema"
