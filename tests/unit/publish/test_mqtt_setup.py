"""Connection set-up: backoff, credentials (never shown), TLS files, config rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigError, MqttConfig, parse_text
from edge.publish.connect import (
    Backoff,
    MqttSetupError,
    describe_refusal,
    load_credentials,
    tls_context,
)


def test_backoff_doubles_with_jitter_and_resets() -> None:
    """Delays double up to the cap, jitter keeps each in [d/2, d], a success resets them."""
    high = Backoff(1.0, 8.0, rand=lambda: 1.0)
    assert [high.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low = Backoff(1.0, 8.0, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]
    low.reset()
    assert low.next_delay() == 0.5


def test_password_sources(tmp_path: Path) -> None:
    """password_file wins; else $CREDENTIALS_DIRECTORY/mqtt_password; an empty file or no
    file means no password; only the first line counts."""
    pw = tmp_path / "pw"
    pw.write_text("s3cret\nignored\n")
    cfg = MqttConfig(username="u", password_file=pw)
    assert load_credentials(cfg, {}).password == "s3cret"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert load_credentials(MqttConfig(username="u"), env).password is None
    (creds / "mqtt_password").write_text("fromsystemd")
    assert load_credentials(MqttConfig(username="u"), env).password == "fromsystemd"
    assert load_credentials(MqttConfig(), {}).password is None


def test_password_never_in_repr_or_errors(tmp_path: Path) -> None:
    """The password appears neither in the credentials' repr nor in any error message."""
    pw = tmp_path / "pw"
    pw.write_text("hunter2-secret")
    creds = load_credentials(MqttConfig(username="u", password_file=pw), {})
    assert "hunter2" not in repr(creds)
    with pytest.raises(MqttSetupError) as info:
        load_credentials(MqttConfig(password_file=pw), {})
    assert "mqtt.username" in str(info.value) and "hunter2" not in str(info.value)


def test_missing_files_name_the_key(tmp_path: Path) -> None:
    """A missing password file or CA file is reported at start with the config key."""
    with pytest.raises(MqttSetupError, match=r"mqtt\.password_file"):
        load_credentials(MqttConfig(username="u", password_file=tmp_path / "nope"), {})
    cfg = MqttConfig.model_validate({"tls": {"enabled": True, "ca_file": str(tmp_path / "ca")}})
    with pytest.raises(MqttSetupError, match=r"mqtt\.tls\.ca_file"):
        tls_context(cfg)
    assert tls_context(MqttConfig()) is None


def test_tls_and_protocol_validation() -> None:
    """cert_file needs key_file; TLS files need tls.enabled; protocol 5 may be a YAML int;
    reconnect_max_s >= reconnect_initial_s. Validation reads no file."""
    with pytest.raises(ConfigError, match="set together"):
        parse_text("mqtt:\n  tls:\n    enabled: true\n    cert_file: /x.pem\n")
    with pytest.raises(ConfigError, match=r"tls\.enabled is false"):
        parse_text("mqtt:\n  tls:\n    ca_file: /nonexistent/ca.pem\n")
    config = parse_text("mqtt:\n  protocol: 5\n  tls:\n    enabled: true\n    ca_file: /no/ca\n")
    assert config.mqtt.protocol == "5"
    with pytest.raises(ConfigError, match="reconnect_max_s"):
        parse_text("mqtt:\n  reconnect_initial_s: 10\n  reconnect_max_s: 5\n")
    with pytest.raises(ConfigError, match="protocol"):
        parse_text("mqtt:\n  protocol: 4\n")


def test_refusal_messages_name_the_settings() -> None:
    """A refused login points at the user name and the password file."""
    text = describe_refusal("Not authorized")
    assert "mqtt.username" in text and "password" in text


def test_config_check_shows_security_without_secrets(tmp_path: Path) -> None:
    """`edge config check` summarises TLS and login but never prints the password."""
    pw = tmp_path / "pw"
    pw.write_text("topsecret-value")
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(f"mqtt:\n  username: sensor\n  password_file: {pw}\n  tls:\n    enabled: true\n")
    res = subprocess.run(
        [sys.executable, "-m", "edge", "config", "check", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "TLS" in res.stdout and "'sensor'" in res.stdout
    assert "topsecret" not in res.stdout + res.stderr
