"""Helpers of the fleet tests: a collector subprocess, a real device (outbox + MQTT
publisher + WindowPublisher, the code `edge run` uses), database queries, waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import MqttConfig, OutboxConfig
from edge.publish.message import ModelIds
from edge.publish.mqtt import MqttPublisher
from edge.publish.outbox import Outbox
from edge.publish.topics import Topics
from edge.publish.window import WindowPublisher
from edge.types import Window
from tests import waiting

#: The fleet tests' broker: no cap on messages queued for a persistent session (the
#: collector's, while it or its database is away); docs/fleet.md says why.
FLEET_BROKER_CONF = "max_queued_messages 0\n"
MODELS = ModelIds("det@000000000000", "cls@000000000000")


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy, or fail saying ``what``."""
    return waiting.wait_until(check, timeout_s, interval_s=0.1, message=what)


def query(dsn: str, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, args).fetchall()


def scalar(dsn: str, sql: str, args: Any = None) -> Any:
    try:
        return query(dsn, sql, args)[0][0]
    except Exception:  # the database may be down or not migrated yet in a fault test
        return None


@dataclass
class CollectorProc:
    """``edge fleet collect`` as a subprocess (what systemd runs)."""

    broker_port: int
    dsn: str
    client_id: str
    log: Path
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CollectorProc:
        env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "fleet", "collect", "--mqtt",
             f"127.0.0.1:{self.broker_port}", "--dsn", self.dsn, "--client-id", self.client_id,
             *self.extra],
            stdout=out, stderr=out, env=env,
        )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class RealDevice:
    """The device side as `edge run` wires it: durable outbox (with its epoch), the MQTT
    publisher and the WindowPublisher that numbers and encodes each window."""

    def __init__(self, state: Path, device: str, port: int, window_s: float = 1.0) -> None:
        state.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(state / "outbox.db", OutboxConfig())
        cfg = MqttConfig.model_validate(
            {"host": "127.0.0.1", "port": port, "reconnect_initial_s": 0.2,
             "reconnect_max_s": 0.5}
        )
        topics = Topics("edge", device)
        self.mqtt = MqttPublisher(cfg, topics, self.outbox, window_s=window_s, env={})
        self.mqtt.__enter__()
        self.windows = WindowPublisher(
            self.outbox, [self.mqtt], topics=topics, models=MODELS, qos=1,
            epoch=self.outbox.epoch,
        )

    def close_window(self, start_s: float, faces: int = 4) -> None:
        shares = {"angry": 0.1, "disgust": 0.0, "fear": 0.0, "happy": 0.5, "sad": 0.1,
                  "surprise": 0.0, "neutral": 0.3}
        suppressed = faces < 3
        self.windows.window_closed(Window(
            start_s, start_s + 1.0, faces, faces * 0.5, 2.0,
            None if suppressed else shares, None if suppressed else "happy",
            None if suppressed else dict.fromkeys(shares, 0) | {"happy": faces},
            None if suppressed else 0.3, None if suppressed else 0.8, 10, suppressed, False,
        ))

    def close(self) -> None:
        self.mqtt.close(timeout_s=5.0)
        self.outbox.close()
