"""MQTT publisher (paho-mqtt 2.x) draining the durable outbox, with its own network thread.

- Every window goes to the outbox (:mod:`edge.publish.outbox`, fsync'd) before anything else;
  the network thread hands at most ``MAX_INFLIGHT`` of them to paho, oldest first, and deletes
  each row only on its PUBACK. paho therefore never holds more than a few messages: the outbox
  is the buffer, memory stays bounded however long the outage.
- Each connection attempt uses a fresh paho client, so after a reconnect the drain restarts at
  the oldest undelivered row and nothing is sent twice by paho's own retry on top of ours.
- Reconnection: exponential backoff with jitter (:class:`edge.publish.connect.Backoff`). Each
  change of state (connected, unreachable, refused, TLS error, disconnected) is logged once
  with the setting to check; the retained status topic says ``online`` after every connect
  and the broker publishes the ``offline`` last will when the connection drops.
- QoS 0 windows leave the outbox only once paho took them; QoS 2 is refused (QOS2_REFUSED).
- No CONNACK within ``connect_timeout_s`` counts as unreachable; ``close()`` never waits for
  a hanging connect (``CLOSE_JOIN_S``), so shutdown stays within its bound.
- paho callbacks only record events; the network thread handles them between ``loop()``
  calls, so no lock is ever taken inside paho's callbacks (no lock-order inversion).
"""

from __future__ import annotations

import contextlib
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Literal

import paho.mqtt.client as mqtt

from edge.config import MqttConfig
from edge.publish.callbacks import Callbacks, Handler
from edge.publish.connect import (
    MAX_INFLIGHT,
    QOS2_REFUSED,
    Backoff,
    Link,
    LinkPhase,
    MqttSetupError,
    PublisherStats,
    build_client,
    describe_connect_error,
    describe_no_connack,
    describe_refusal,
    tls_context,
    wait_published,
)
from edge.publish.message import OutboundMessage
from edge.publish.outbox import Outbox
from edge.publish.outbox_records import Appended, is_historical
from edge.publish.topics import STATUS_OFFLINE, STATUS_ONLINE, Topics
from edge.publish.window import as_historical, state_message
from edge.types import Liveness, NoLiveness

log = logging.getLogger(__name__)
INFO = logging.INFO

#: Longest a ``loop()`` call blocks; bounds timer resolution and stop latency.
LOOP_S = 0.1
#: Longest :meth:`MqttPublisher.close` waits for the network thread (a connect or TLS
#: handshake to a black-hole host may hang for ``connect_timeout_s``: it is not waited for).
CLOSE_JOIN_S = 1.0


class MqttPublisher:
    """Publishes windows (through the outbox), retained status/state, live telemetry; routes
    subscribed command topics to handlers. A :class:`edge.publish.window.Transport`."""

    def __init__(
        self,
        config: MqttConfig,
        topics: Topics,
        outbox: Outbox,
        *,
        window_s: float,
        env: Mapping[str, str] | None = None,
        wall: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        durable: bool = True,
        liveness: Liveness | None = None,
        tls: ssl.SSLContext | Literal["from-config"] | None = "from-config",
    ) -> None:
        """``tls``: the context of every connection (default: built here once from config)."""
        import os

        self._liveness: Liveness = liveness or NoLiveness()
        if config.qos == 2:
            raise MqttSetupError(QOS2_REFUSED)
        self._durable = durable  # False in `edge demo`, whose outbox is a temporary folder
        self._config = config
        self._topics = topics
        self._outbox = outbox
        self._window_s = window_s
        self._wall = wall
        self._rand = rand
        self._env = os.environ if env is None else env
        context = tls_context(config) if isinstance(tls, str) else tls
        self._new_client: Callable[[], mqtt.Client] = lambda: build_client(
            config, topics, self._env, context
        )
        self._client = self._new_client()  # also checks the password file now
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._events: deque[tuple[Any, ...]] = deque()
        self._callbacks = Callbacks()
        self._retained: dict[str, OutboundMessage] = {}
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._confirm: dict[str, Callable[[], None]] = {}  # retained topic -> on its PUBACK
        self._notify: dict[int, str] = {}  # paho mid -> retained topic awaiting confirmation
        self._state_seq = 0  # seq of the window last copied to the retained state topic
        self._connect_t = 0.0
        self._sent_upto = 0
        self._link = Link()  # the connection's one state; replaced whole by _set_link
        self._stop = threading.Event()
        self._backoff = Backoff(config.reconnect_initial_s, config.reconnect_max_s, rand)
        self._connects = 0
        self._attempts = 0
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> MqttPublisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(timeout_s=2.0)

    @property
    def connected(self) -> bool:
        return self._link.connected

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the connection is up, at most ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._link.connected, timeout_s)

    @property
    def unacked(self) -> int:
        """Windows not yet acknowledged by the broker (the outbox depth)."""
        return self._outbox.depth

    @property
    def address(self) -> str:
        return f"{self._config.host}:{self._config.port}"

    def stats(self) -> PublisherStats:
        return PublisherStats(
            self.connected, max(0, self._connects - 1), self._attempts, self._outbox.depth
        )

    def close(self, timeout_s: float) -> None:
        """Deliver what the outbox holds (bounded by ``timeout_s``), publish ``offline``,
        disconnect. Undelivered windows stay in the outbox for the next start."""
        half = max(0.1, timeout_s / 2)
        if self.connected:
            with self._changed:
                self._changed.wait_for(lambda: self._outbox.depth == 0 or not self.connected, half)
            with self._lock:
                info = self._client.publish(self._topics.status, STATUS_OFFLINE, qos=1, retain=True)
            wait_published(info, half)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CLOSE_JOIN_S)  # a hanging connect is not waited for
        with self._lock:
            with contextlib.suppress(Exception):
                self._client.disconnect()
            self._set_link("down")
        waiting = self._outbox.stored
        if waiting and self._durable:
            log.warning(
                "MQTT: %d window(s) not delivered yet; they stay in the outbox %s and are sent "
                "after the next start",
                waiting,
                self._outbox.path,
            )
        elif waiting:
            log.warning(
                "MQTT: %d window(s) not delivered to %s before the end; the demo's outbox is a "
                "temporary folder, so they are discarded",
                waiting,
                self.address,
            )

    # -- producers (main thread) -----------------------------------------------------------
    def send(self, message: OutboundMessage) -> None:
        """A closed window: commit it to the outbox (fsync), update the retained state copy,
        and start delivering. A window that cannot be written is counted and logged."""
        if message.seq is None:
            self.publish_live(message)
            return
        self._committed(self._outbox.append(message, self._wall()))
        self._pump()

    def _committed(self, result: Appended) -> None:
        """After windows reached the disk: log bound drops, refresh the retained state copy
        (never from a window only in memory: it is published once committed)."""
        if result.dropped:
            log.warning("outbox full: dropped the oldest undelivered windows %s", result.dropped)
        if result.committed:
            newest = result.committed[-1]
            if newest.seq is not None and newest.seq > self._state_seq:
                self._state_seq = newest.seq
                self.publish_live(state_message(newest, self._topics))

    def publish_live(self, message: OutboundMessage) -> None:
        """Publish now if connected. Retained messages are also remembered and published again
        after every (re)connect; other messages are dropped while disconnected."""
        with self._lock:
            if message.retain:
                self._retained[message.topic] = message
            if self.connected:
                self._publish(message)

    def publish_confirmed(self, message: OutboundMessage, on_acked: Callable[[], None]) -> None:
        """A retained QoS >= 1 message, published now and after every reconnect until the
        broker acknowledged it once; then ``on_acked()`` runs (network thread)."""
        with self._lock:
            self._confirm[message.topic] = on_acked
        self.publish_live(message)

    def _publish(self, message: OutboundMessage) -> None:
        info = self._client.publish(
            message.topic, message.payload, qos=message.qos, retain=message.retain
        )
        if message.topic in self._confirm:
            self._notify[info.mid] = message.topic

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(payload)`` (network thread) for each message on ``topic``."""
        with self._lock:
            self._callbacks.handlers[topic] = handler
            if self.connected:
                self._client.subscribe(topic, qos=1)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the network thread after ``delay_s`` seconds."""
        self._callbacks.call_later(delay_s, fn)

    # -- network thread ----------------------------------------------------------------------
    def _run(self) -> None:
        """The network thread: an unexpected exception ends it, logged with its traceback
        and reported to the service's health, which stops the service (exit 1)."""
        try:
            self._network_loop()
        except Exception as exc:
            log.exception("MQTT network thread died")
            self._liveness.failed(exc)
        else:
            self._liveness.done()

    def _network_loop(self) -> None:
        # the longest one pass may block: a backoff wait, or a connect attempt
        promise_s = self._config.reconnect_max_s + self._config.connect_timeout_s + 1.0
        while not self._stop.is_set():
            self._liveness.beat(promise_s)
            if self._link.down:
                self._connect_once()
                continue
            rc = self._client.loop(timeout=LOOP_S)
            self._service()
            phase = self._link.phase  # _service may have changed it
            if rc != mqtt.MQTT_ERR_SUCCESS and phase != "down":
                self._link_lost(f"connection lost ({mqtt.error_string(rc)})")
            elif phase == "handshake" and self._connack_overdue():
                self._link_lost(describe_no_connack(self._config), label="unreachable")

    def _connack_overdue(self) -> bool:
        return time.monotonic() - self._connect_t > self._config.connect_timeout_s

    def _connect_once(self) -> None:
        with self._lock:
            self._client = self._new_client()
            self._attach(self._client)
            self._inflight.clear()
            self._notify.clear()
            self._sent_upto = 0
        cfg = self._config
        self._attempts += 1
        self._connect_t = time.monotonic()
        try:
            self._client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except (OSError, ValueError) as exc:
            level = logging.ERROR if "TLS" in describe_connect_error(exc, cfg) else logging.WARNING
            self._set_link("down", "unreachable", describe_connect_error(exc, cfg), level)
            self._stop.wait(self._backoff.next_delay())
            return
        self._set_link("handshake")

    def _attach(self, client: mqtt.Client) -> None:
        events = self._events
        client.on_connect = lambda _c, _u, _f, reason, _p: events.append(("connack", reason))
        client.on_publish = lambda _c, _u, mid, reason, _p: events.append(("ack", mid, reason))
        client.on_message = lambda _c, _u, msg: events.append(("msg", msg.topic, msg.payload))

    def _set_link(
        self, phase: LinkPhase, label: str | None = None, detail: str = "", level: int = INFO
    ) -> None:
        """The one place the connection state changes; a new label/detail is logged once."""
        with self._changed:
            old = self._link
            said = (old.label, old.detail) if label is None else (label, detail)
            self._link = Link(phase, *said)
            self._changed.notify_all()
        if said != (old.label, old.detail):
            cfg = self._config
            log.log(level, "MQTT %s (%s:%s): %s", said[0], cfg.host, cfg.port, said[1])

    def _link_lost(
        self, detail: str, level: int = logging.WARNING, label: str | None = None
    ) -> None:
        """Down, then backoff; logged if it was up, with ``label``, or above WARNING."""
        was = self.connected
        with self._lock:
            with contextlib.suppress(Exception):  # the socket may already be gone
                self._client.disconnect()
            if was:
                label = "disconnected"
            elif label is None and level > logging.WARNING:
                label = self._link.label
            self._set_link("down", label, detail, level)
        self._stop.wait(self._backoff.next_delay())

    def _service(self) -> None:
        """Handle paho events, due timers and the outbox drain (network thread)."""
        acked: list[int] = []
        while self._events:
            event = self._events.popleft()
            if event[0] == "ack":
                acked.extend(self._on_ack(event[1], event[2]))
            elif event[0] == "connack":
                self._on_connack(event[1])
            elif event[0] == "msg":
                self._callbacks.dispatch(event[1], event[2])
        if acked:
            self._outbox.ack(acked)
            with self._changed:
                self._changed.notify_all()
        self._committed(self._outbox.retry(self._wall()))  # windows the disk refused before
        self._callbacks.run_due()
        self._pump()

    def _on_ack(self, mid: int, reason: Any) -> list[int]:
        with self._lock:
            seq = self._inflight.pop(mid, None)
            topic = self._notify.pop(mid, "")
            ok = not getattr(reason, "is_failure", False)
            confirmed = self._confirm.pop(topic, None) if topic and ok else None
            kept = self._retained.get(topic)
            if confirmed is not None and kept is not None and not kept.payload:
                self._retained.pop(topic)  # a cleared retained topic: once is enough
        if confirmed is not None:
            confirmed()
        if seq is None:
            return []
        if getattr(reason, "is_failure", False):
            log.error("broker rejected window seq=%d (%s); dropped and counted", seq, reason)
            self._outbox.count_drop("rejected", seq)
            return []
        return [seq]

    def _on_connack(self, reason: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._link_lost(describe_refusal(reason), logging.ERROR, label="refused")
            return
        with self._lock:
            self._client.publish(self._topics.status, STATUS_ONLINE, qos=1, retain=True)
            for topic in self._callbacks.handlers:
                self._client.subscribe(topic, qos=1)
            for message in self._retained.values():
                self._publish(message)
            self._connects += 1
            depth = self._outbox.depth
            self._set_link("up", "connected", f"{depth} window(s) waiting in the outbox")
        self._backoff.reset()

    def _pump(self) -> None:
        """Hand the oldest undelivered windows to paho, at most ``MAX_INFLIGHT`` at a time."""
        with self._lock:
            if not self.connected:
                return
            room = MAX_INFLIGHT - len(self._inflight)
            if room <= 0:
                return
            now = self._wall()
            for row in self._outbox.peek(self._sent_upto, room):
                late = is_historical(row.due_s, now, self._window_s)
                payload = as_historical(row.payload) if late else row.payload
                info = self._client.publish(row.topic, payload, qos=row.qos)
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    break
                if row.qos == 0 and info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # not taken (e.g. no connection): it stays, sent after a reconnect
                self._sent_upto = row.seq
                if row.qos == 0:
                    self._outbox.ack([row.seq])  # accepted; no acknowledgement will come
                else:
                    self._inflight[info.mid] = row.seq
