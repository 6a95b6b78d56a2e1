"""Telemetry documents: schema-valid with and without Raspberry Pi fields; sampling maths."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from edge.config.mqtt import OutboxConfig
from edge.inference.analyzer import StageTimes
from edge.publish.message import ModelIds, OutboundMessage
from edge.publish.outbox import Outbox
from edge.publish.telemetry import TelemetrySample, telemetry_message, telemetry_payload
from edge.publish.topics import Topics
from edge.service.telemetry import Telemetry, ThrottleReader, parse_throttled, read_soc_temp
from edge.types import PipelineSnapshot

SCHEMA = Path(__file__).resolve().parents[3] / "edge" / "schemas" / "telemetry-1.schema.json"
MODELS = ModelIds("det@abc", "cls@def")


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema.Draft202012Validator(
        json.loads(SCHEMA.read_text()),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _sample(**kw: Any) -> TelemetrySample:
    base: dict[str, Any] = {
        "time_s": 1_800_000_000.0, "uptime_s": 12.0, "version": "0.1.0", "analysis": True,
        "fps_in": 14.9, "fps_processed": 9.8, "frames_dropped": 51, "detect_ms": (12.0, 20.5),
        "classify_ms": None, "faces_now": 2, "mqtt_reconnects": 1, "outbox_depth": 3,
        "outbox_bytes": 2100, "outbox_oldest_s": 1_799_999_990.0,
        "dropped": {"max_messages": 0, "max_age": 1, "max_bytes": 0, "rejected": 0,
                    "write_error": 0},
    }
    base.update(kw)
    return TelemetrySample(**base)


def test_payload_without_pi_fields_is_valid(validator: Any) -> None:
    """Off a Pi the temperature and throttling fields are absent, and the rest validates."""
    doc = telemetry_payload(_sample(), device_id="d", models=MODELS)
    validator.validate(doc)
    assert "soc_temp_c" not in doc and "throttled" not in doc
    assert doc["outbox"]["oldest_age_s"] == 10.0
    assert doc["detect_ms"] == {"p50": 12.0, "p95": 20.5} and doc["classify_ms"] is None


def test_payload_with_pi_fields_is_valid(validator: Any) -> None:
    """On a Pi the SoC temperature and every throttling flag are published."""
    doc = telemetry_payload(_sample(soc_temp_c=61.234, throttled=0x50005), device_id="d",
                            models=MODELS)
    validator.validate(doc)
    assert doc["soc_temp_c"] == 61.2
    flags = doc["throttled"]
    assert flags["raw"] == "0x50005"
    assert flags["under_voltage"] and flags["throttled"] and not flags["freq_capped"]
    assert flags["under_voltage_occurred"] and flags["throttled_occurred"]
    assert not flags["soft_temp_limit_occurred"]


def test_pi_readers(tmp_path: Path) -> None:
    """sysfs millidegrees become °C; vcgencmd output is parsed; missing tools give None."""
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert read_soc_temp(zone) == 48.312
    assert read_soc_temp(tmp_path / "none") is None
    assert parse_throttled("throttled=0x0\n") == 0
    assert parse_throttled("error") is None
    assert ThrottleReader(exe=str(tmp_path / "no-vcgencmd")).read() is None


def test_sampling_rates_over_the_interval(tmp_path: Path, validator: Any) -> None:
    """fps are deltas over the interval since the previous message, from injected clocks;
    nothing is published before interval_s has passed."""
    now = [100.0]
    sent: list[Any] = []
    outbox = Outbox(tmp_path / "o.db", OutboxConfig())
    counters = {"frames_captured": 0, "frames_dropped": 0, "frames_processed": 0}

    def snapshot() -> PipelineSnapshot:
        return PipelineSnapshot(**counters, windows=0, faces_now=1, detect_ms=(10.0, 10.0),
                                classify_ms=None)

    telemetry = Telemetry(
        interval_s=10, topics=Topics("edge", "d"), models=MODELS, outbox=outbox,
        publish=sent.append, snapshot=snapshot,
        reconnects=lambda: 0, analysis=lambda: False, throttle=ThrottleReader(exe=None),
        soc_temp=lambda: None, clock=lambda: now[0], wall=lambda: 1_800_000_000.0,
    )
    counters.update(frames_captured=150, frames_dropped=50, frames_processed=100)
    now[0] = 105.0
    telemetry.tick()
    assert sent == []
    now[0] = 110.0
    telemetry.tick()
    doc = json.loads(sent[0].payload)
    validator.validate(doc)
    assert (doc["fps_in"], doc["fps_processed"], doc["frames_dropped"]) == (15.0, 10.0, 50)
    assert doc["analysis"] == "OFF" and doc["faces_now"] == 1
    assert sent[0].topic == "edge/d/telemetry" and sent[0].qos == 0 and sent[0].retain


def test_live_face_count_is_withheld_under_differential_privacy(tmp_path: Path) -> None:
    """With privacy.dp on, telemetry's faces_now is null: no exact count bypasses epsilon."""
    from edge.config import parse_text
    from edge.pipeline import Pipeline, SystemClock

    outbox = Outbox(tmp_path / "outbox.db", OutboxConfig())
    analyzer = SimpleNamespace(detect_ms=StageTimes(), classify_ms=StageTimes(), share_factor=1.0)
    sent: list[OutboundMessage] = []
    config = parse_text("privacy:\n  dp:\n    epsilon: 1.0\n")
    windows = SimpleNamespace(window_closed=lambda _w: None)
    pipeline = Pipeline.from_config(config, analyzer, windows, SystemClock())  # type: ignore[arg-type]
    telemetry = Telemetry(
        interval_s=1, topics=Topics("edge", "d"), models=MODELS, outbox=outbox,
        publish=sent.append, snapshot=lambda: pipeline.snapshot(None),
        reconnects=lambda: 0, analysis=lambda: True, throttle=ThrottleReader(exe=None),
        soc_temp=lambda: None, clock=lambda: 10.0, wall=lambda: 1_800_000_000.0,
    )
    doc = json.loads(telemetry_message(
        telemetry.sample(10.0), topics=Topics("edge", "d"), models=MODELS
    ).payload)
    assert doc["faces_now"] is None
