"""`edge run` on a real video against a real Mosquitto, seen by a real paho subscriber."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Broker, Subscriber, clip_config, outbox_seqs
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
DEVICE = "test-e2e"


def write_config(tmp_path: Path, broker: Broker) -> Path:
    return clip_config(tmp_path, broker.host, broker.port, DEVICE)


def start_edge(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop_edge(proc: subprocess.Popen[str]) -> tuple[int, float, str]:
    """SIGTERM; returns exit status, seconds until exit, stderr."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"edge run ignored SIGTERM for 15 s; stderr:\n{err}") from None
    return proc.returncode, time.monotonic() - t0, err


def test_run_publishes_schema_valid_windows_and_status(
    broker: Broker, tmp_path: Path, validate_payload: Any
) -> None:
    """Windows arrive at QoS 1, validate against the schema, seq increases by one; status goes
    online, then offline after SIGTERM, which publishes a partial window and exits 0 in 5 s."""
    config = write_config(tmp_path, broker)
    with Subscriber(broker, [f"edge/{DEVICE}/#"]) as sub:
        proc = start_edge(config)
        try:
            sub.wait_for(f"edge/{DEVICE}/status", 1, timeout_s=60)
            sub.wait_for(f"edge/{DEVICE}/emotions", 4, timeout_s=60)
        finally:
            rc, took_s, err = stop_edge(proc)
        assert rc == 0, err
        assert took_s < 5.0, f"shutdown took {took_s:.1f} s"
        statuses = sub.wait_for(f"edge/{DEVICE}/status", 2, timeout_s=10)
    assert [s.payload for s in statuses[:2]] == [b"online", b"offline"]
    documents = [m.json() for m in sub.on(f"edge/{DEVICE}/emotions")]
    for message in sub.on(f"edge/{DEVICE}/emotions"):
        assert message.qos == 1
    for doc in documents:
        validate_payload(doc)
    seqs = [d["seq"] for d in documents]
    assert seqs == list(range(1, len(seqs) + 1))
    assert documents[-1]["partial"] is True
    assert all(not d["partial"] for d in documents[:-1])
    published = [d for d in documents if not d["suppressed"]]
    assert published, "no window reached k=3 faces on the sample clip"
    for doc in published:
        assert abs(sum(doc["expressions"].values()) - 1.0) < 1e-3
        assert doc["faces"] >= 3
    for doc in documents:
        if doc["suppressed"]:
            assert doc["expressions"] is None and doc["valence"] is None
    assert "Traceback" not in err


def test_seq_is_not_reused_after_restart(broker: Broker, tmp_path: Path) -> None:
    """A second run continues seq where the first stopped under the same outbox epoch (the
    windows' identity is device, epoch, seq), and the retained status is offline after a
    clean stop."""
    config = write_config(tmp_path, broker)
    seen: list[int] = []
    epochs: set[str] = set()
    for _run in range(2):
        with Subscriber(broker, [f"edge/{DEVICE}/emotions"], client_id=f"s{_run}") as sub:
            proc = start_edge(config)
            try:
                sub.wait_for(f"edge/{DEVICE}/emotions", 2, timeout_s=60)
            finally:
                rc, _took, err = stop_edge(proc)
            assert rc == 0, err
            # every window the run logged (the partial one at SIGTERM too) has arrived
            logged = re.findall(r"window seq=(\d+)", err)
            sub.wait_for(f"edge/{DEVICE}/emotions", len(logged), timeout_s=10)
            seen.extend(json.loads(m.payload)["seq"] for m in sub.on(f"edge/{DEVICE}/emotions"))
            epochs.update(json.loads(m.payload)["epoch"] for m in sub.on(f"edge/{DEVICE}/emotions"))
    assert len(epochs) == 1 and re.fullmatch(r"[0-9a-f]{16}", epochs.pop())
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    with Subscriber(broker, [f"edge/{DEVICE}/status"], client_id="late") as late:
        retained = late.wait_for(f"edge/{DEVICE}/status", 1, timeout_s=5)
    assert retained[0].payload == b"offline" and retained[0].retain


def test_run_without_broker_still_shuts_down_cleanly(tmp_path: Path) -> None:
    """With no broker listening, `edge run` keeps analysing and still exits 0 on SIGTERM,
    reporting the undelivered windows in its log instead of crashing."""
    from tests.conftest import free_port

    dead = Broker(port=free_port(), workdir=tmp_path)
    config = write_config(tmp_path, dead)
    proc = start_edge(config)
    try:
        wait_until(lambda: outbox_seqs(tmp_path / "state"), 60,
                   message="a window closed and kept in the outbox")
    finally:
        rc, took_s, err = stop_edge(proc)
    assert rc == 0, err
    assert took_s < 5.0
    assert "not delivered" in err
    assert "Traceback" not in err


def test_systemd_notify_ready_watchdog_stopping(broker: Broker, tmp_path: Path) -> None:
    """Under systemd (NOTIFY_SOCKET, WATCHDOG_USEC) the service sends READY=1 once running,
    WATCHDOG=1 from the loop, STATUS= lines, and STOPPING=1 on SIGTERM, on a real socket."""
    import socket as pysocket

    sock_path = tmp_path / "notify.sock"
    server = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(0.5)
    config = write_config(tmp_path, broker)
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    env |= {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                messages.append(server.recv(4096).decode())
            except TimeoutError:
                continue
            if sum("WATCHDOG=1" in m for m in messages) >= 3:
                break
    finally:
        rc, _took, err = stop_edge(proc)
    server.settimeout(2)
    try:
        while True:
            messages.append(server.recv(4096).decode())
    except TimeoutError:
        pass
    server.close()
    assert rc == 0, err
    text = "\n".join(messages)
    assert "READY=1" in text
    assert text.index("READY=1") < text.index("WATCHDOG=1")
    assert sum("WATCHDOG=1" in m for m in messages) >= 3
    assert "STATUS=fps=" in text
    assert "STOPPING=1" in messages[-1]
