"""A plain paho client as the bench's sink for ``edge bench --mqtt HOST:PORT``.

It publishes each window message as is (QoS from the message) and keeps no outbox, so the
``publish`` stage measures JSON encoding plus handing the message to paho's network thread.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.publish.message import OutboundMessage


class PahoSink:
    """Connects in the background; :meth:`send` queues one message."""

    def __init__(self, host: str, port: int) -> None:
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"edge-bench-{os.getpid()}"
        )
        self._client.on_connect = self._on_connect
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, *_: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def send(self, message: OutboundMessage) -> None:
        info = self._client.publish(
            message.topic, message.payload, qos=message.qos, retain=message.retain
        )
        self._pending.append(info)

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the queued windows to be delivered, then disconnect."""
        for info in self._pending:
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                try:
                    info.wait_for_publish(timeout_s)
                except (RuntimeError, ValueError):
                    break
        self._client.disconnect()
        self._client.loop_stop()
