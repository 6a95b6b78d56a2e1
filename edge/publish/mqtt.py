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
        self._lock = threading.RLock()
        self._acked = threading.Condition(self._lock)
        self._unacked: set[int] = set()
        client_id = config.client_id or f"edge-{topics.device_id}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.will_set(topics.status, STATUS_OFFLINE, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

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

    @property
    def unacked(self) -> int:
        """Messages handed to paho and not yet acknowledged by the broker."""
        with self._lock:
            return len(self._unacked)

    def send(self, message: OutboundMessage) -> None:
        """Queue one message; paho's thread delivers it when connected."""
        with self._lock:
            info = self._client.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain
            )
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                log.warning("MQTT queue full (%d): window dropped", MAX_QUEUED_MESSAGES)
            elif message.qos > 0:
                self._unacked.add(info.mid)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued message is acknowledged; False if ``timeout_s`` passed."""
        with self._acked:
            return self._acked.wait_for(lambda: not self._unacked, timeout_s)

    def close(self, timeout_s: float) -> None:
        """Flush queued windows (bounded by ``timeout_s``), publish ``offline``, disconnect."""
        half = max(0.1, timeout_s / 2)
        if self._connected.is_set():
            self.flush(half)
            offline = self._client.publish(self._topics.status, STATUS_OFFLINE, qos=1, retain=True)
            _wait(offline, half)
        if self.unacked:
            log.warning(
                "MQTT broker unreachable at shutdown: %d message(s) not delivered", self.unacked
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

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        with self._acked:
            self._unacked.discard(mid)
            self._acked.notify_all()

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
