"""Shared fixtures: a real Mosquitto broker on a free loopback port, paths, a paho subscriber."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SAMPLE_VIDEO = REPO_ROOT / "edge" / "data" / "sample.mp4"
SCHEMA_PATH = REPO_ROOT / "edge" / "schemas" / "emotions-1.schema.json"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; fails (never skips) with a clear message when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"{path} is missing: this test needs ../shared beside the project root; "
            "run `pytest -m 'not shared_data'` on a checkout without it"
        )
    return path


def clip_config(
    tmp_path: Path, host: str, port: int, device: str, extra: str = "", mqtt_extra: str = ""
) -> Path:
    """Write an edge.yaml that runs the bundled clip in a loop with 1 s windows against the
    given broker, keeping state under ``tmp_path/state``. ``extra`` holds more top-level YAML
    sections, ``mqtt_extra`` more indented ``mqtt:`` keys."""
    path = tmp_path / "edge.yaml"
    path.write_text(
        f"device:\n  id: {device}\n"
        f"camera:\n  source: file:{SAMPLE_VIDEO}\n  loop: true\n"
        "aggregation:\n  window_s: 1\n"
        f"mqtt:\n  host: {host}\n  port: {port}\n{mqtt_extra}"
        f"{extra}"
        f"state_dir: {tmp_path / 'state'}\n"
    )
    return path


def outbox_seqs(state_dir: Path) -> list[int]:
    """The seq numbers of the windows waiting in ``state_dir/outbox.db`` of a running (or
    killed) service, read-only beside its writes; [] before the file exists."""
    path = state_dir / "outbox.db"
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return [row[0] for row in db.execute("SELECT seq FROM messages ORDER BY seq")]
    except sqlite3.OperationalError:  # created but not initialised yet: nothing in it
        return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Broker:
    """A mosquitto process on 127.0.0.1:port that tests may stop and start again."""

    port: int
    workdir: Path
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    extra_conf: str = ""

    def start(self, timeout_s: float = 10.0) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        # As root, mosquitto would switch to its own user and could not write the persistence
        # file under pytest's private tmp dirs; persistent sessions must survive a restart.
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.workdir}/\nautosave_interval 1\n{user}{self.extra_conf}"
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "mosquitto.log").read_text()
                raise RuntimeError(f"mosquitto exited: {log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A fresh Mosquitto broker for one test (real process, loopback only)."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run `apt-get install mosquitto` (.ci/run does)")
    b = Broker(port=free_port(), workdir=tmp_path_factory.mktemp("mosquitto"))
    b.start()
    try:
        yield b
    finally:
        b.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Subscriber:
    """A real paho client collecting every message on the given topics."""

    broker: Broker
    topics: list[str]
    client_id: str = "test-subscriber"
    clean: bool = True
    messages: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _client: mqtt.Client | None = None

    def __enter__(self) -> Subscriber:
        connected = threading.Event()
        subscribed = threading.Semaphore(0)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=self.clean
        )

        def on_connect(c: mqtt.Client, *_: Any) -> None:
            for t in self.topics:
                c.subscribe(t, qos=1)
            connected.set()

        def on_subscribe(*_: Any) -> None:
            subscribed.release()

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            with self._cond:
                self.messages.append(Received(msg.topic, msg.payload, bool(msg.retain), msg.qos))
                self._cond.notify_all()

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        client.connect(self.broker.host, self.broker.port, keepalive=30)
        client.loop_start()
        if not connected.wait(10):
            raise RuntimeError("test subscriber could not connect")
        # every SUBACK in before the test starts publishing
        deadline = time.monotonic() + 10
        for topic in self.topics:
            if not subscribed.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"test subscriber got no SUBACK for {topic} within 10 s")
        self._client = client
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, count: int, timeout_s: float) -> list[Received]:
        """Block until ``count`` messages arrived on ``topic`` (or fail after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                got = [m for m in self.messages if m.topic == topic]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"only {len(got)} of {count} messages on {topic} within {timeout_s} s; "
                        f"all topics seen: {sorted({m.topic for m in self.messages})}"
                    )
                self._cond.wait(left)


@pytest.fixture(scope="session")
def emotions_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


@pytest.fixture(scope="session")
def validate_payload() -> Any:
    """A function that validates one decoded payload against the published JSON Schema (the
    same decoder the fleet collector uses: edge.contract)."""
    from edge.contract import PayloadDecoder

    return PayloadDecoder().validate


@pytest.fixture
def postgres() -> Iterator[Any]:
    """A fresh PostgreSQL server for one test (Debian's initdb + postgres, loopback only)."""
    from tests.pgserver import PgServer

    server = PgServer(port=free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def fleet_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Mosquitto as docs/fleet.md configures it for the collector (no cap on a session's
    queue), for the fleet tests."""
    from tests.fleetparts import FLEET_BROKER_CONF

    broker = Broker(port=free_port(), workdir=tmp_path_factory.mktemp("mq"),
                    extra_conf=FLEET_BROKER_CONF)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
