"""MQTT client (paho-mqtt 2.x): status with last will, window messages at QoS 1.

paho's network thread does the I/O; :meth:`MqttPublisher.publish_window` only encodes and
queues. Reconnection uses paho's exponential backoff; each change of connection state is logged
once, so a broker outage does not flood the journal.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import MqttConfig
from edge.publish.payloads import STATUS_OFFLINE, STATUS_ONLINE, OutboundMessage, Topics

log = logging.getLogger(__name__)

#: Messages paho may hold in memory while disconnected; bounds memory during outages.
MAX_QUEUED_MESSAGES = 1000


class MqttPublisher:
    """Publishes windows and the retained ``online``/``offline`` status of one device."""

    def __init__(self, config: MqttConfig, topics: Topics) -> None:
        self._config = config
        self._topics = topics
        self._connected = threading.Event()
        self._state = "new"
        self._pending: list[mqtt.MQTTMessageInfo] = []
        client_id = config.client_id or f"edge-{topics.device_id}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.will_set(topics.status, STATUS_OFFLINE, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def __enter__(self) -> MqttPublisher:
        cfg = self._config
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(timeout_s=2.0)

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the first connection is up, at most ``timeout_s``."""
        return self._connected.wait(timeout_s)

    def send(self, message: OutboundMessage) -> None:
        """Queue one message; paho's thread delivers it when connected."""
        info = self._client.publish(
            message.topic, message.payload, qos=message.qos, retain=message.retain
        )
        self._pending = [m for m in self._pending if not m.is_published()]
        self._pending.append(info)

    def close(self, timeout_s: float) -> None:
        """Flush queued windows (bounded by ``timeout_s``), publish ``offline``, disconnect."""
        deadline_each = max(0.1, timeout_s / 2)
        if self._connected.is_set():
            for info in self._pending:
                _wait(info, deadline_each / max(1, len(self._pending)))
            offline = self._client.publish(self._topics.status, STATUS_OFFLINE, qos=1, retain=True)
            _wait(offline, deadline_each)
        elif self._pending:
            log.warning(
                "broker unreachable at shutdown: %d window(s) not delivered", len(self._pending)
            )
        self._client.disconnect()
        self._client.loop_stop()

    def _set_state(self, state: str, detail: str) -> None:
        if state != self._state:
            self._state = state
            log.info("MQTT %s (%s:%s) %s", state, self._config.host, self._config.port, detail)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._set_state("refused", str(reason))
            return
        client.publish(self._topics.status, STATUS_ONLINE, qos=1, retain=True)
        self._connected.set()
        self._set_state("connected", "")

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._connected.clear()
        self._set_state("disconnected", f"({reason}); retrying with backoff")


def _wait(info: mqtt.MQTTMessageInfo, timeout_s: float) -> None:
    try:
        info.wait_for_publish(timeout=timeout_s)
    except (RuntimeError, ValueError) as exc:
        log.warning("MQTT message not confirmed: %s", exc)
