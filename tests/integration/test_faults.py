"""Faults a service meets unattended, injected into a real `edge run` against a real broker:
a dead camera is reported as lost (telemetry, windows, STATUS), not as an empty room; a
worker thread that raises ends the service non-zero; pause closes the camera."""

from __future__ import annotations

import os
import signal
import socket as pysocket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SAMPLE_VIDEO, Broker, Subscriber

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, broker: Broker, device: str, source: str, extra: str = "") -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(
        f"device:\n  id: {device}\n"
        f"camera:\n  source: {source}\n  reopen_initial_s: 0.2\n  reopen_max_s: 0.5\n"
        "  read_timeout_s: 1\n"
        "aggregation:\n  window_s: 2\n"
        "telemetry:\n  interval_s: 1\n"
        f"mqtt:\n  host: {broker.host}\n  port: {broker.port}\n"
        f"{extra}state_dir: {tmp_path / 'state'}\n"
    )
    return path


def _start(config: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "NOTIFY_SOCKET")}
    env |= env_extra or {}
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    return proc.returncode, err


@pytest.mark.parametrize(
    "source", ["rtsp://admin:pw@127.0.0.1:1/x", "v4l2:/dev/nothere"], ids=["rtsp", "v4l2"]
)
def test_dead_camera_is_reported_lost_not_an_empty_room(
    broker: Broker, tmp_path: Path, source: str
) -> None:
    """With a camera that never opens, telemetry says camera.state lost with growing reopen
    attempts, every full window carries camera_lost_s of (nearly) its whole length, STATUS
    says camera=lost after READY=1, the state change is logged once, and OpenCV/FFmpeg print
    nothing of their own."""
    device = "dead-cam"
    sock_path = tmp_path / "notify.sock"
    server = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(0.2)
    notes: list[str] = []
    topics = [f"edge/{device}/telemetry", f"edge/{device}/emotions"]
    with Subscriber(broker, topics, client_id="dead-cam-sub") as sub:
        proc = _start(_config(tmp_path, broker, device, source),
                      {"NOTIFY_SOCKET": str(sock_path)})
        try:
            telemetry = sub.wait_for(topics[0], 4, timeout_s=60)
            windows = sub.wait_for(topics[1], 3, timeout_s=30)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any("camera=lost" in n for n in notes):
                try:
                    notes.append(server.recv(4096).decode())
                except TimeoutError:
                    continue
        finally:
            rc, err = _stop(proc)
            server.close()
    assert rc == 0, err
    camera = [t.json()["camera"] for t in telemetry]
    assert camera[-1]["state"] == "lost"
    assert camera[-1]["reopen_attempts"] > camera[0]["reopen_attempts"] >= 1
    full = [w.json() for w in windows if w.json()["duration_s"] >= 1.9]
    assert full and all(w["camera_lost_s"] >= 0.9 * w["duration_s"] for w in full)
    assert all(w["faces"] == 0 for w in full)
    text = "\n".join(notes)
    assert "READY=1" in text and "camera=lost" in text
    assert err.count("camera ") <= 3, err  # one 'lost' line (maybe 'opening' at start)
    assert "[tcp @" not in err and "VIDEOIO" not in err and "WARN:" not in err
    assert "pw@" not in err


def test_capture_thread_that_raises_ends_the_service_non_zero(
    broker: Broker, tmp_path: Path
) -> None:
    """An OSError inside the capture thread (here an image 'file' that is a directory) is
    logged with its traceback and the service exits 1 with one clear line, publishing
    'offline', instead of running on with a dead thread and a healthy watchdog."""
    folder = tmp_path / "frames"
    folder.mkdir()
    ok, frame = cv2.imencode(".png", np.full((120, 160, 3), 90, np.uint8))
    assert ok
    for i in range(3):
        (folder / f"a{i}.png").write_bytes(frame.tobytes())
    (folder / "b.png").mkdir()  # reading it raises IsADirectoryError in the capture thread
    device = "raising-cam"
    with Subscriber(broker, [f"edge/{device}/status"], client_id="raise-sub") as sub:
        proc = _start(_config(tmp_path, broker, device, f"file:{folder}"))
        try:
            proc.wait(timeout=60)
        finally:
            rc, err = _stop(proc)
        statuses = sub.wait_for(f"edge/{device}/status", 2, timeout_s=10)
    assert rc == 1, err
    assert "capture thread" in err and "died" in err
    assert "Traceback" in err and "IsADirectoryError" in err  # the logged traceback
    assert err.strip().splitlines()[-1].startswith("edge: the capture thread died")
    assert statuses[-1].payload == b"offline"


def test_pause_closes_the_camera(broker: Broker, tmp_path: Path) -> None:
    """OFF on analysis/set closes the camera: telemetry says camera paused and no frame is
    captured; ON opens it again."""
    device = "pause-cam"
    topics = [f"edge/{device}/telemetry"]
    config = _config(tmp_path, broker, device, f"file:{SAMPLE_VIDEO}")
    config.write_text(config.read_text().replace("  read_timeout_s: 1\n",
                                                 "  read_timeout_s: 1\n  loop: true\n"))
    with Subscriber(broker, topics, client_id="pause-sub") as sub:
        proc = _start(config)
        try:
            sub.wait_for(topics[0], 2, timeout_s=60)
            assert sub._client is not None
            sub._client.publish(f"edge/{device}/analysis/set", b"OFF", qos=1)
            deadline = time.monotonic() + 20
            paused: list[dict[str, object]] = []
            while time.monotonic() < deadline and len(paused) < 2:
                docs = [t.json() for t in sub.on(topics[0])]
                paused = [d for d in docs if d["camera"]["state"] == "paused"]  # type: ignore[index]
                time.sleep(0.2)
            sub._client.publish(f"edge/{device}/analysis/set", b"ON", qos=1)
            count = len(sub.on(topics[0]))
            later = sub.wait_for(topics[0], count + 3, timeout_s=20)
        finally:
            rc, err = _stop(proc)
    assert rc == 0, err
    assert len(paused) >= 2 and paused[-1]["fps_in"] == 0
    assert later[-1].json()["camera"]["state"] == "ok"
