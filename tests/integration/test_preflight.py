"""`edge config check` and `edge run` share one pre-flight: what would stop a start is found
by both, each problem at its YAML line with the key, exit status 2, no traceback."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import Config
from edge.inference.models import get_spec
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


def _models_copy(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models, ignore=shutil.ignore_patterns("train"))
    return models


def test_corrupt_model_hint_says_how_to_restore_and_lists_the_ids(tmp_path: Path) -> None:
    """A corrupt default classifier file (sha256 differs): the hint says how to restore it
    (reinstall, or `python models/build.py --check` in a checkout) and lists every classifier
    id of the manifest, in both `config check` and `run`."""
    from edge.config import Config
    from edge.inference.models import read_manifest

    models = _models_copy(tmp_path)
    with (models / f"{Config().classifier.model}.tflite").open("ab") as fh:
        fh.write(b"appended bytes")
    ids = [i for i, spec in read_manifest(models).items() if spec.kind == "classifier"]
    for res in _both(_write(tmp_path, f"models:\n  dir: {models}\n")):
        assert res.returncode == 2, res.stderr
        [hint] = [line for line in res.stderr.splitlines() if "hint:" in line]
        assert "python models/build.py --check" in hint and "reinstall" in hint
        assert all(model_id in hint for model_id in ids), hint
        assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("old", "new", "key", "says"),
    [
        ("boxes = [1, 2304, 16], scores = [1, 2304, 1]",
         "boxes = [1, 2300, 16], scores = [1, 2300, 1]",
         "detector.model", "differ from the manifest's outputs"),
        ("anchors = { strides = [4], per_cell = [1]", "anchors = { strides = [4], per_cell = [2]",
         "detector.model", "anchors make 4608"),
        ('labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]\n'
         'preprocess = { color = "gray", resize = "auto", scale = 0.00392156862745098, '
         'offset = -0.5, multiply = 2.0 }  # y = (x*scale + offset)*multiply; 48x48 crops: '
         'auto = INTER_AREA when shrinking\ntemperature = {T}',
         'labels = ["angry", "happy"]\n'
         'preprocess = { color = "gray", resize = "auto", scale = 0.00392156862745098, '
         'offset = -0.5, multiply = 2.0 }\ntemperature = {T}',
         "classifier.model", "labels ['angry', 'happy'] differ"),
    ],
    ids=["detector_outputs", "detector_anchors", "classifier_labels"],
)  # fmt: skip
def test_model_and_manifest_tensor_mismatch_is_a_model_error(
    tmp_path: Path, old: str, new: str, key: str, says: str
) -> None:
    """A manifest whose tensor shapes (outputs, anchors, labels) do not match the file was a
    bare ValueError traceback in `run` and OK in `config check`; now both report the model
    error at its key with what differs, exit 2 ({T}: the default classifier's temperature, so
    the edit lands in the default's entry)."""
    models = _models_copy(tmp_path)
    manifest = models / "manifest.toml"
    text = manifest.read_text()
    default_t = f"{get_spec(models, Config().classifier.model, 'classifier').temperature:g}"
    old, new = old.replace("{T}", default_t), new.replace("{T}", default_t)
    assert old in text
    manifest.write_text(text.replace(old, new, 1))
    for res in _both(_write(tmp_path, f"models:\n  dir: {models}\n")):
        assert res.returncode == 2, (res.args, res.stderr)
        assert f"{key}:" in res.stderr and says in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and "ValueError" not in res.stderr


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
        tmp_path, f"mqtt:\n  host: broker.example\n  username: u\n  password_file: {secret}\n")))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("warning:") == 1 and "mqtt.tls" in res.stderr
    assert "s3cret" not in res.stdout + res.stderr


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1", "'[::1]'"])
def test_password_to_a_loopback_broker_is_not_warned(tmp_path: Path, host: str) -> None:
    """A password to a broker on this machine (localhost, 127.0.0.0/8, ::1) never crosses a
    network: no clear-text warning."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    body = f"state_dir: {tmp_path}/s\nmqtt:\n  host: {host}\n  username: u\n"
    warnings, errors = _check(tmp_path, body + f"  password_file: {secret}\n")
    assert errors == ""
    assert "clear text" not in warnings


def test_qos2_error_names_its_key_once(tmp_path: Path) -> None:
    """`mqtt.qos: 2` is refused at its line with the key once (it read
    'mqtt.qos: mqtt.qos: 2 is not supported')."""
    _, errors = _check(tmp_path, f"state_dir: {tmp_path}/s\nmqtt:\n  qos: 2\n")
    assert "edge.yaml:3: mqtt.qos: 2 is not supported" in errors
    assert "mqtt.qos: mqtt.qos" not in errors


def _check(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """`edge config check` in-process on ``body``: (warnings, errors) as printed."""
    import io

    from edge.cli import main

    path = tmp_path / "edge.yaml"
    path.write_text(body)
    err = io.StringIO()
    saved = {k: os.environ.pop(k) for k in ("STATE_DIRECTORY",) if k in os.environ}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["config", "check", str(path)])
    finally:
        for key in env or {}:
            os.environ.pop(key, None)
        os.environ.update(saved)
    text = err.getvalue()
    return (text, "") if code == 0 else ("", text)


def test_missing_v4l2_device_is_a_warning_with_line_and_hint(tmp_path: Path) -> None:
    """A v4l2 device that does not exist is accepted (it may be plugged in later) with a
    warning naming the line, key, device and a hint."""
    warnings, errors = _check(
        tmp_path, f"state_dir: {tmp_path}/s\ncamera:\n  source: v4l2:/dev/video97\n"
    )
    assert errors == ""
    assert "line 3: camera.source: V4L2 device /dev/video97 does not exist" in warnings
    assert "hint: plug the camera in" in warnings


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_state_dir_that_is_a_file_is_an_error(tmp_path: Path, where: str) -> None:
    """state_dir naming a file (or a folder below a file) is an error at its line: edge run
    could not create its outbox there."""
    (tmp_path / "afile").write_text("x")
    state = tmp_path / "afile" if where == "file" else tmp_path / "afile" / "sub"
    _, errors = _check(tmp_path, f"state_dir: {state}\n")
    assert f"edge.yaml:1: state_dir: state directory {state}" in errors
    assert "not a folder" in errors and "hint: point state_dir at a folder" in errors


@pytest.mark.parametrize(("size", "kind"), [("1m", "error"), ("8m", "warning")])
def test_full_state_disk_is_reported_with_its_free_space(
    tmp_path: Path, size: str, kind: str
) -> None:
    """A state directory on a (real, mounted) file system with under 1 MiB free is an
    error, under 64 MiB a warning; both give the free space and the fix."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (run as root, as CI does): {done.stderr}")
    try:
        if kind == "error":  # fill the file system to the last byte
            with (mount / "filler").open("wb", buffering=0) as fh:
                for block in (65536, 4096, 512, 1):
                    with contextlib.suppress(OSError):
                        while fh.write(b"\0" * block):
                            pass
        warnings, errors = _check(tmp_path, f"state_dir: {mount}/state\n")
    finally:
        subprocess.run(["umount", "-l", str(mount)], timeout=10, check=False)
    text = errors if kind == "error" else warnings
    assert f"state_dir: state directory {mount}/state: " in text, (warnings, errors)
    assert "free on its file system" in text and "free space there" in text
    if kind == "error":
        assert "the outbox needs at least 1.0 MiB" in errors


def test_empty_file_says_which_defaults_it_runs_with(tmp_path: Path) -> None:
    """An empty file is valid, with a warning naming the defaults it runs with (source,
    broker, state directory) and where every key is documented."""
    warnings, errors = _check(tmp_path, "")
    assert errors == ""
    assert "the file sets no key, so every default applies: camera.source picamera2, " in warnings
    assert "MQTT broker localhost:1883 without TLS" in warnings
    assert "firmware_config/edge.yaml" in warnings


def test_uppercase_rtsp_and_bad_port_in_config_check(tmp_path: Path) -> None:
    """`RTSP://` is accepted as `rtsp://` (schemes are case-insensitive); port 99999 is an
    error at its line."""
    state = f"state_dir: {tmp_path}/s\n"
    _, errors = _check(tmp_path, state + "camera:\n  source: RTSP://cam:554/s\n")
    assert errors == ""
    _, errors = _check(tmp_path, state + "camera:\n  source: rtsp://cam:99999/s\n")
    assert "edge.yaml:3: camera.source: RTSP URL 'rtsp://cam:99999/s': the port must be" in errors
