"""The MQTT publisher's connection state is one value (edge.publish.connect.Link) that only
_set_link changes: what `connected`, `wait_connected` and the log say always agree."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.config import MqttConfig
from edge.config.mqtt import OutboxConfig
from edge.publish.mqtt import MqttPublisher
from edge.publish.outbox import Outbox
from edge.publish.topics import Topics
from tests.conftest import Broker
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_connection_state_follows_a_broker_restart(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Connected; the broker stops: not connected, logged once as 'disconnected' and once
    as 'unreachable' (the refused reconnects, however many, add no line); it starts again:
    wait_connected wakes on the reconnect, logged 'connected' again, and the stats count
    one reconnect."""
    cfg = MqttConfig.model_validate(
        {"host": broker.host, "port": broker.port, "reconnect_initial_s": 0.1,
         "reconnect_max_s": 0.3}
    )  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.db", OutboxConfig())
    publisher = MqttPublisher(cfg, Topics("edge", "link"), outbox, window_s=1.0, env={})
    with caplog.at_level(logging.INFO, logger="edge.publish.mqtt"), publisher:
        assert publisher.wait_connected(10)
        broker.stop()
        deadline_s = 10.0
        _wait_until(lambda: not publisher.connected, deadline_s)
        assert publisher.stats().connected is False
        attempts = publisher.stats().attempts
        _wait_until(lambda: publisher.stats().attempts >= attempts + 3, deadline_s)
        assert not publisher.wait_connected(0.05)
        broker.start()
        assert publisher.wait_connected(15)
        assert publisher.stats().reconnects == 1
    outbox.close()
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("MQTT ")]
    labels = [m.split(" ")[1] for m in said if "window(s) not delivered" not in m]
    assert labels == ["connected", "disconnected", "unreachable", "connected"], said


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    wait_until(condition, timeout_s, interval_s=0.02)
