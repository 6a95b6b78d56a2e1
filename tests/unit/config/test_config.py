"""Config validation: every error names the key path, the YAML line and a hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import Config, ConfigError, load, parse_text

REPO_ROOT = Path(__file__).resolve().parents[3]


def _issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "edge.yaml")
    return [(i.path, i.line, i.message) for i in info.value.issues]


def test_empty_file_gives_defaults() -> None:
    """An empty file is valid: every key has a default that needs no site knowledge."""
    config = parse_text("", "edge.yaml")
    assert config == Config()
    assert config.aggregation.window_s == 60
    assert config.privacy.min_faces == 3
    assert config.mqtt.topic_prefix == "edge"


def test_unknown_key_names_path_and_line() -> None:
    """A misspelt key is rejected with its dotted path and the line it is on."""
    issues = _issues("mqtt:\n  host: broker\n  prot: 1883\n")
    assert issues == [("mqtt.prot", 3, "unknown key 'prot'")]


def test_wrong_type_names_path_line_and_value() -> None:
    """A value of the wrong type is reported with the path, line and the value given."""
    [(path, line, message)] = _issues("camera:\n  source: picamera2\n  fps: fast\n")
    assert (path, line) == ("camera.fps", 3)
    assert "'fast'" in message


def test_flip_tta_must_be_a_boolean() -> None:
    """classifier.flip_tta takes true/false; anything else names the key, line and value."""
    assert parse_text("classifier:\n  flip_tta: true\n", "edge.yaml").classifier.flip_tta
    [(path, line, message)] = _issues("classifier:\n  flip_tta: sometimes\n")
    assert (path, line) == ("classifier.flip_tta", 2)
    assert "'sometimes'" in message


def test_out_of_range_value() -> None:
    """Constraints are real: a 0 s window and port 70000 are both rejected, each on its line."""
    issues = _issues("aggregation:\n  window_s: 0\nmqtt:\n  port: 70000\n")
    assert [(p, line) for p, line, _ in issues] == [("aggregation.window_s", 2), ("mqtt.port", 4)]


def test_short_windows_down_to_one_second_are_valid() -> None:
    """window_s accepts 1 s (tests and demos use short windows)."""
    assert parse_text("aggregation:\n  window_s: 1\n").aggregation.window_s == 1


def test_bad_camera_source_hint_lists_valid_forms() -> None:
    """An unknown source scheme explains every accepted form."""
    [(path, line, message)] = _issues("camera:\n  source: http://cam/stream\n")
    assert (path, line) == ("camera.source", 2)
    assert "v4l2:/dev/video0" in message and "rtsp://" in message


def test_all_errors_reported_at_once() -> None:
    """Every problem in the file is listed, not only the first."""
    issues = _issues("device:\n  id: 'has space'\nprivacy:\n  min_faces: 0\nbogus: 1\n")
    assert {p for p, _, _ in issues} == {"device.id", "privacy.min_faces", "bogus"}


def test_invalid_yaml_points_at_line() -> None:
    """Broken YAML syntax is reported with the line of the problem."""
    [(path, line, message)] = _issues("mqtt:\n  host: [unclosed\n  port: 1\n")
    assert path == ""
    assert line is not None and line >= 2
    assert "YAML" in message


def test_missing_file(tmp_path: Path) -> None:
    """A missing config file is a ConfigError that says so and names the path."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "nope.yaml")
    assert "file not found" in str(info.value)
    assert "nope.yaml" in str(info.value)


def test_example_config_is_valid() -> None:
    """The commented example config shipped in firmware_config/ passes validation."""
    config = load(REPO_ROOT / "firmware_config" / "edge.yaml")
    assert config.mqtt.qos == 1


def test_config_is_frozen() -> None:
    """Stages cannot mutate the config they were given."""
    config = Config()
    with pytest.raises(ValueError, match="frozen"):
        config.mqtt.port = 1  # type: ignore[misc]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=60
    )


def test_config_check_cli_exit_codes(tmp_path: Path) -> None:
    """`edge config check` exits 0 on a good file and 2 with path, line and hint on a bad one."""
    good = tmp_path / "good.yaml"
    good.write_text("mqtt:\n  host: broker.local\n")
    ok = _cli("config", "check", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  host: broker.local\n  port: -1\n")
    res = _cli("config", "check", str(bad))
    assert res.returncode == 2
    assert f"{bad}:3: mqtt.port" in res.stderr
    assert "hint:" in res.stderr


def test_run_refuses_bad_config(tmp_path: Path) -> None:
    """`edge run` refuses to start on an invalid config with the same message, exit 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracking:\n  smoothing: 2\n")
    res = _cli("run", "--config", str(bad))
    assert res.returncode == 2
    assert f"{bad}:2: tracking.smoothing" in res.stderr
