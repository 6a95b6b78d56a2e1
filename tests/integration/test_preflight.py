"""`edge config check` and `edge run` share one pre-flight: what would stop a start is found
by both, each problem at its YAML line with the key, exit status 2, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def _edge(*args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    hidden = ("STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True,
        timeout=timeout_s, env=env,
    )


def _both(config: Path) -> list[subprocess.CompletedProcess[str]]:
    return [_edge("config", "check", str(config)), _edge("run", "--config", str(config))]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(body + f"state_dir: {tmp_path / 'state'}\n")
    return path


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("mqtt:\n  username: u\n  password_file: /nonexistent/pw\n", ":3: mqtt.password_file"),
        ("mqtt:\n  tls:\n    enabled: true\n    ca_file: /nonexistent/ca.pem\n",
         ":4: mqtt.tls.ca_file"),
        ("classifier:\n  model: no_such_model\n", ":2: classifier.model"),
        ("detector:\n  model: edge_fer_cnn_int8\n", ":2: detector.model"),
        ("models:\n  dir: /nonexistent/models\n", ":2: models.dir"),
        ("camera:\n  source: file:/nonexistent.mp4\n", ":2: camera.source"),
    ],
    ids=["password_file", "ca_file", "model_id", "model_kind", "models_dir", "file_source"],
)
def test_config_check_refuses_what_run_refuses(tmp_path: Path, body: str, where: str) -> None:
    """Each of these made `config check` say OK and `run` refuse; now both refuse with the
    same line and key, exit 2, and no traceback."""
    for res in _both(_write(tmp_path, body)):
        assert res.returncode == 2, (res.args, res.stdout, res.stderr)
        assert where in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and "hint:" in res.stderr


def test_corrupt_model_whose_hash_matches_is_a_clear_error(tmp_path: Path) -> None:
    """A model file that matches the manifest's sha256 but is not a valid TFLite file (a
    manifest rewritten for a broken file) is refused at the key with a fix, not a traceback."""
    import hashlib

    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models, ignore=shutil.ignore_patterns("train"))
    from edge.config import Config

    broken = models / f"{Config().classifier.model}.tflite"  # the default classifier's file
    broken.write_bytes(b"not a flatbuffer at all" * 10)
    manifest = models / "manifest.toml"
    text = manifest.read_text()
    old = hashlib.sha256((REPO_ROOT / "models" / broken.name).read_bytes()).hexdigest()
    manifest.write_text(text.replace(old, hashlib.sha256(broken.read_bytes()).hexdigest()))
    for res in _both(_write(tmp_path, f"models:\n  dir: {models}\n")):
        assert res.returncode == 2, res.stderr
        assert "classifier.model" in res.stderr and "cannot load it" in res.stderr
        assert "Traceback" not in res.stderr


def test_control_byte_in_config_is_a_message_everywhere(tmp_path: Path) -> None:
    """A control byte gives the line and a fix in config check, run and privacy report."""
    path = tmp_path / "edge.yaml"
    path.write_bytes(b"mqtt:\n  host: bro\x01ker\n")
    for args in (("config", "check", str(path)), ("run", "--config", str(path)),
                 ("privacy", "report", "--config", str(path))):
        res = _edge(*args)
        assert res.returncode == 2 and ":2:" in res.stderr and "U+0001" in res.stderr
        assert "Traceback" not in res.stderr


def test_rtsp_password_is_never_printed(tmp_path: Path) -> None:
    """The password of an RTSP URL appears in neither config check, the privacy report nor
    edge bench's JSON or error output."""
    body = "camera:\n  source: rtsp://admin:hunter2@127.0.0.1:1/stream\n"
    path = _write(tmp_path, body)
    outputs = [
        _edge("config", "check", str(path)),
        _edge("privacy", "report", "--config", str(path)),
        _edge("bench", "--config", str(path), "--source", "rtsp://admin:hunter2@127.0.0.1:1/x",
              "--frames", "1", "--json"),
    ]
    assert outputs[0].returncode == 0 and "***@127.0.0.1" in outputs[0].stdout
    assert outputs[1].returncode == 0 and "***@127.0.0.1" in outputs[1].stdout
    for res in outputs:
        assert "hunter2" not in res.stdout + res.stderr, res.args


def test_password_without_tls_is_warned_once(tmp_path: Path) -> None:
    """A password sent without TLS passes config check with one warning naming mqtt.tls."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    res = _edge("config", "check", str(_write(
        tmp_path, f"mqtt:\n  username: u\n  password_file: {secret}\n")))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("warning:") == 1 and "mqtt.tls" in res.stderr
    assert "s3cret" not in res.stdout + res.stderr
