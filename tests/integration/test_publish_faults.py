"""Injected faults on `edge run`: a black-hole broker host, and the state directory's disk
filling up while windows keep closing (a real 1 MiB tmpfs; needs root, as CI has)."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Broker, clip_config, outbox_seqs
from tests.integration.test_delivery import DEVICE, closed_windows, subscriber
from tests.integration.test_end_to_end import start_edge, stop_edge
from tests.unit.publish.test_outbox_faults import fill
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
#: README: SIGTERM publishes the open window, then `offline`, and exits 0 within 5 s.
SHUTDOWN_BOUND_S = 5.0


def start_logged(config: Path, log: Path) -> subprocess.Popen[str]:
    """`edge run` with its log going to ``log``, which the test reads while it runs."""
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    with log.open("w") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=fh, text=True, env=env,
        )


def windows_after(text: str, marker: str) -> int:
    """Windows closed (logged) after the first line containing ``marker`` (0 if none)."""
    at = text.find(marker)
    return 0 if at < 0 else len(re.findall(r"window seq=\d+ faces=", text[at:]))


@pytest.fixture(params=["accepts-never-answers", "syn-dropped"])
def black_hole(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port on 127.0.0.1 that is no broker: either it accepts TCP and never says a word, or
    its accept queue is full so the kernel drops further SYNs (a connect then hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers: list[socket.socket] = []
    accepted: list[socket.socket] = []
    if request.param == "syn-dropped":
        for _ in range(3):  # fill the backlog; later SYNs are dropped, connects hang
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        # the first handshake completing fills the accept queue (backlog 0)
        select.select([], fillers, [], 5)
    else:
        server.settimeout(0.1)

        def keep_accepting() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                    accepted.append(conn)
                except TimeoutError:
                    continue
                except OSError:
                    return

        import threading

        threading.Thread(target=keep_accepting, daemon=True).start()
    try:
        yield port
    finally:
        for s in fillers + accepted:
            s.close()
        server.close()


def test_shutdown_within_bound_when_broker_host_is_a_black_hole(
    black_hole: int, tmp_path: Path
) -> None:
    """With mqtt.connect_timeout_s at its default 10 s and a broker host that never answers,
    SIGTERM still ends `edge run` with exit 0 within the documented 5 s, and the undelivered
    windows are reported as kept in the outbox."""
    config = clip_config(tmp_path, "127.0.0.1", black_hole, "test-blackhole")
    proc = start_edge(config)
    try:
        # windows close and wait in the outbox while the connect attempt hangs or waits for a
        # CONNACK (mqtt.connect_timeout_s is 10 s: SIGTERM comes during the attempt)
        wait_until(lambda: len(outbox_seqs(tmp_path / "state")) >= 2, 60,
                   message="two windows closed and kept in the outbox")
    finally:
        rc, took_s, err = stop_edge(proc)
    assert rc == 0, err
    assert took_s < SHUTDOWN_BOUND_S, f"shutdown took {took_s:.1f} s\n{err}"
    assert "not delivered yet; they stay in the outbox" in err, err
    assert "Traceback" not in err


def test_disk_full_while_running_loses_no_window(broker: Broker, tmp_path: Path) -> None:
    """The state dir's file system fills up while windows close: the cause (SQLITE_FULL) is
    logged once, telemetry's depth counts the windows waiting in memory and write_error stays
    0; once space is freed every window 1..N reaches the persistent subscriber in order."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                   check=True, timeout=10)
    try:
        config = clip_config(
            tmp_path, broker.host, broker.port, DEVICE,
            extra="telemetry:\n  interval_s: 1\n",
            mqtt_extra="  reconnect_initial_s: 0.5\n  reconnect_max_s: 2\n",
        )
        config.write_text(config.read_text().replace(str(tmp_path / "state"), str(mount)))
        log = tmp_path / "edge.log"
        with subscriber(broker, "persistent-diskfull") as sub:
            proc = start_logged(config, log)
            try:
                sub.wait_seq(2, timeout_s=60)
                broker.stop()  # windows pile up in the outbox, then the disk fills
                filler = fill(mount)
                wait_until(lambda: windows_after(log.read_text(), "cannot commit window") >= 2,
                           30, message="two windows closed after the disk filled up")
                broker.start()
                wait_until(lambda: log.read_text().count("MQTT connected") >= 2, 30,
                           message="the service reconnected while the disk is still full")
                filler.unlink()
                last = max(sub.seqs())
                sub.wait_seq(last + 4, timeout_s=60)
            finally:
                rc, _took, _ = stop_edge(proc)
            err = log.read_text()
            assert rc == 0, err
            closed = closed_windows(err)
            sub.wait_seq(max(closed), timeout_s=30)
            seqs = sorted(set(sub.seqs()))
            assert seqs == list(range(1, max(closed) + 1)), (seqs, closed)
    finally:
        subprocess.run(["umount", "-l", str(mount)], timeout=10, check=False)
    assert err.count("outbox: cannot commit window") == 1, err
    assert "SQLITE_FULL" in err and "rollback" not in err, err
    assert "accepts writes again" in err, err
    assert "Traceback" not in err
