"""The collector's pure parts: messages to rows/dead letters, its config file and flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import ConfigError
from edge.contract import PayloadDecoder
from edge.fleet.config import load_fleet_config
from edge.fleet.rows import BatchBuilder, Incoming, split_topic
from edge.publish.message import ModelIds, encode, iso_utc
from edge.publish.topics import Topics
from edge.publish.window import window_message
from edge.types import Window

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MODELS = ModelIds("d@000000000000", "c@000000000000")


def _msg(topic: str, payload: bytes) -> Incoming:
    return Incoming(topic, payload, 1, 1, 1, NOW.timestamp())


def _window_payload(start: datetime, seq: int = 1) -> bytes:
    t = start.timestamp()
    window = Window(t, t + 60, 1, 0.5, 3.0, None, None, None, None, None, 10, True, False)
    return window_message(window, seq=seq, topics=Topics("edge", "pi"), models=MODELS, qos=1,
                          epoch="ab" * 8).payload


def _telemetry(time_s: float, depth: int) -> bytes:
    return encode({"schema": "edge.telemetry/1", "device": "pi", "time": iso_utc(time_s),
                   "uptime_s": 1.0, "version": "0", "model": {"detector": "d", "classifier": "c"},
                   "analysis": "ON", "fps_in": 1.0, "fps_processed": 1.0, "frames_dropped": 0,
                   "detect_ms": None, "classify_ms": None, "faces_now": 0, "mqtt_reconnects": 0,
                   "outbox": {"depth": depth, "bytes": 0, "oldest_age_s": None,
                              "dropped": {"max_messages": 1, "max_age": 0, "max_bytes": 0,
                                          "rejected": 0, "write_error": 2}},
                   "camera": {"state": "ok", "since": iso_utc(time_s), "reopen_attempts": 0}})


def test_batch_sorts_windows_status_telemetry_and_dead_letters() -> None:
    """A window becomes a row keyed by its epoch, the newest telemetry per device wins,
    status is kept, and windows past retention or far in the future are dead letters."""
    builder = BatchBuilder("edge", 30, PayloadDecoder())
    old = datetime(2026, 10, 1, tzinfo=UTC)
    batch = builder.build([
        _msg("edge/pi/emotions", _window_payload(NOW)),
        _msg("edge/pi/telemetry", _telemetry(NOW.timestamp() - 10, 7)),
        _msg("edge/pi/telemetry", _telemetry(NOW.timestamp() - 40, 9)),
        _msg("edge/pi/status", b"online"),
        _msg("edge/pi/emotions", _window_payload(old, seq=2)),
        _msg("edge/pi/emotions", _window_payload(datetime(2027, 1, 1, tzinfo=UTC), seq=3)),
        _msg("edge/pi/other", b"x"),
    ], NOW)
    assert [(w["epoch"], w["seq"]) for w in batch.windows] == [("ab" * 8, 1)]
    assert batch.telemetry["pi"].outbox_depth == 7 and batch.telemetry["pi"].outbox_dropped == 3
    assert batch.status["pi"].status == "online"
    assert [d.reason for d in batch.dead] == ["expired", "future", "topic"]


def test_split_topic_handles_multi_level_prefixes() -> None:
    """The device id is the level after the (possibly multi-level) prefix."""
    assert split_topic("site/a/edge/pi-1/emotions", "site/a/edge") == ("pi-1", "emotions")
    assert split_topic("edge/pi/analysis/state", "edge") is None
    assert split_topic("other/pi/emotions", "edge") is None


def test_config_file_errors_name_line_key_and_hint(tmp_path: Path) -> None:
    """A fleet YAML with a typo and a bad value is refused like `edge config check` does:
    file, line, key path, hint pointing at docs/fleet.md."""
    path = tmp_path / "fleet.yaml"
    path.write_text("mqtt:\n  host: broker\n  grup: x\ndatabase:\n  retention_days: -1\n")
    with pytest.raises(ConfigError) as info:
        load_fleet_config(path, {})
    text = info.value.render()
    assert f"{path}:3: mqtt.grup: unknown key 'grup'" in text and "docs/fleet.md" in text
    assert f"{path}:5: database.retention_days" in text


def test_flags_override_the_file(tmp_path: Path) -> None:
    """Flags win over the file's keys; the file keeps the rest."""
    path = tmp_path / "fleet.yaml"
    path.write_text("mqtt:\n  host: broker\n  client_id: from-file\nsites:\n  hall: [pi-1]\n")
    config = load_fleet_config(path, {"mqtt": {"client_id": "from-flag"}})
    assert config.mqtt.host == "broker" and config.mqtt.client_id == "from-flag"
    assert config.sites == {"hall": ["pi-1"]} and config.mqtt.protocol == "5"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["fleet", "collect", "--mqtt", "localhost:99999", "--dsn", "x"], "--mqtt"),
        (["fleet", "collect", "--mqtt", "localhost"], "no database"),
        (["fleet", "collect", "--dsn", "x", "--group", "a/b"], "mqtt.group"),
        (["fleet", "simulate", "--mqtt", "localhost", "--devices", "0"], "--devices"),
        (["fleet", "simulate", "--mqtt", "localhost", "--rate", "fast"], "--rate"),
        (["fleet", "collect", "--config", "/nonexistent/fleet.yaml"], "file not found"),
        (["fleet", "collect", "--dsn", "x", "--bogus"], "--bogus"),
        (["fleet", "web"], "--dsn"),
    ],
)
def test_flag_errors_exit_2_with_a_clear_message(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each unusable flag is refused with exit status 2 and a message naming it."""
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    if needle.startswith("--"):
        assert len(err.strip().splitlines()) == 1


def test_window_row_round_trip() -> None:
    """The row carries the payload's numbers (shares null when suppressed)."""
    builder = BatchBuilder("edge", 0, PayloadDecoder())
    batch = builder.build([_msg("edge/pi/emotions", _window_payload(NOW))], NOW)
    row = batch.windows[0]
    assert row["suppressed"] is True and row["happy"] is None and row["faces"] == 1
    assert json.dumps(row)  # JSON-ready for jsonb_to_recordset
