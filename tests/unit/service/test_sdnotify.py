"""edge.service.sdnotify against real AF_UNIX datagram sockets (filesystem and abstract)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.service.sdnotify import SystemdNotifier


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound SOCK_DGRAM socket in a temp dir, as systemd's notify socket would be."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    try:
        yield sock, str(path)
    finally:
        sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[socket.socket, str]]:
    """A bound abstract-namespace SOCK_DGRAM socket; its NOTIFY_SOCKET form starts with '@'."""
    name = f"edge-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        yield sock, "@" + name
    finally:
        sock.close()


def _recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_messages_reach_a_filesystem_socket(receiver: tuple[socket.socket, str]) -> None:
    """ready/watchdog/status/stopping each send one datagram with the sd_notify assignment."""
    sock, path = receiver
    with SystemdNotifier.from_env({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        notifier.ready()
        notifier.watchdog()
        notifier.status("fps=9.8 outbox=3")
        notifier.stopping()
    assert [_recv(sock) for _ in range(4)] == [
        "READY=1",
        "WATCHDOG=1",
        "STATUS=fps=9.8 outbox=3",
        "STOPPING=1",
    ]


def test_messages_reach_an_abstract_socket(abstract_receiver: tuple[socket.socket, str]) -> None:
    """A NOTIFY_SOCKET starting with '@' addresses the abstract namespace."""
    sock, address = abstract_receiver
    with SystemdNotifier.from_env({"NOTIFY_SOCKET": address}) as notifier:
        notifier.ready()
        notifier.status("starting")
    assert _recv(sock) == "READY=1"
    assert _recv(sock) == "STATUS=starting"


def test_status_text_stays_one_assignment(receiver: tuple[socket.socket, str]) -> None:
    """Newlines in a status text cannot inject extra assignments such as READY=1."""
    sock, path = receiver
    with SystemdNotifier.from_env({"NOTIFY_SOCKET": path}) as notifier:
        notifier.status("fps=1\nREADY=1")
    assert _recv(sock) == "STATUS=fps=1 READY=1"


def test_notify_sends_several_assignments_in_one_datagram(
    receiver: tuple[socket.socket, str],
) -> None:
    """notify() joins assignments with newlines, as sd_notify(3) expects."""
    sock, path = receiver
    with SystemdNotifier.from_env({"NOTIFY_SOCKET": path}) as notifier:
        notifier.notify("READY=1", "STATUS=up")
    assert _recv(sock) == "READY=1\nSTATUS=up"


def test_no_notify_socket_is_a_silent_noop(caplog: pytest.LogCaptureFixture) -> None:
    """Without NOTIFY_SOCKET nothing is sent, nothing raises and nothing is logged."""
    caplog.set_level(logging.DEBUG, logger="edge.service.sdnotify")
    with SystemdNotifier.from_env({}) as notifier:
        assert not notifier.enabled
        notifier.ready()
        notifier.watchdog()
        notifier.status("x")
        notifier.stopping()
        assert notifier.watchdog_interval_s is None
    assert caplog.records == []


def test_send_errors_never_raise_and_log_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A socket path nobody listens on: calls return normally, one warning is logged."""
    caplog.set_level(logging.WARNING, logger="edge.service.sdnotify")
    missing = tmp_path / "nobody-listens.sock"
    with SystemdNotifier.from_env({"NOTIFY_SOCKET": str(missing)}) as notifier:
        for _ in range(5):
            notifier.watchdog()
        notifier.ready()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sd_notify" in warnings[0].getMessage()


def test_relative_notify_socket_is_rejected_once(caplog: pytest.LogCaptureFixture) -> None:
    """A relative NOTIFY_SOCKET disables the notifier with a warning instead of failing."""
    caplog.set_level(logging.WARNING, logger="edge.service.sdnotify")
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": "relative/notify.sock"})
    notifier.ready()
    assert not notifier.enabled
    assert len(caplog.records) == 1


def test_calls_after_close_are_noops(receiver: tuple[socket.socket, str]) -> None:
    """After the context manager exits, calls send nothing and do not raise."""
    sock, path = receiver
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": path})
    with notifier:
        notifier.ready()
    notifier.watchdog()
    assert _recv(sock) == "READY=1"
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(4096)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "x"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_env(env: dict[str, str], expected: float | None) -> None:
    """WATCHDOG_USEC gives the interval only when WATCHDOG_PID is absent or this process."""
    assert SystemdNotifier.from_env(env).watchdog_interval_s == expected


def test_from_env_reads_only_the_given_mapping(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[socket.socket, str]
) -> None:
    """from_env uses the mapping passed in, not os.environ."""
    _, path = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    notifier = SystemdNotifier.from_env({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
