"""``edge fleet collect``: MQTT 5 shared subscription -> PostgreSQL, acknowledged after commit.

Exactly once in the store: each message is acknowledged (paho manual ack) only after the
transaction holding it committed; the insert is idempotent on the window's identity, so a
re-delivery (after a crash, a reconnect, a device replaying its outbox) is a no-op. While
the database is down nothing is acknowledged: the broker stops sending once
``receive_maximum`` messages are unacknowledged and keeps the rest in this collector's
persistent session; the collector backs off and retries the same batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import PayloadDecoder
from edge.fleet.config import FleetConfig
from edge.fleet.rows import Batch, BatchBuilder, Incoming, dead_letter
from edge.publish.connect import (
    Backoff,
    describe_connect_error,
    describe_refusal,
    load_credentials,
    tls_context,
)

log = logging.getLogger(__name__)

#: Seconds between partition/retention maintenance passes.
MAINTAIN_EVERY_S = 3600.0
#: Seconds between two INFO lines with the counters.
STATS_EVERY_S = 60.0


def subscriptions(config: FleetConfig) -> list[str]:
    """Windows and telemetry through the shared group (load split between collectors);
    status unshared, so every collector gets the retained status of every device. Without a
    group every subscription is plain (a single collector)."""
    prefix, group = config.mqtt.topic_prefix, config.mqtt.group
    share = f"$share/{group}/" if group else ""
    return [f"{share}{prefix}/+/emotions", f"{share}{prefix}/+/telemetry", f"{prefix}/+/status"]


@dataclass
class Counters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead: dict[str, int] = field(default_factory=dict)
    acked: int = 0
    stale_acks: int = 0
    db_failures: int = 0


class Collector:
    """One collector process: the paho network thread feeds a queue; :meth:`run` takes
    batches from it, stores each in one transaction and acknowledges it."""

    def __init__(
        self,
        config: FleetConfig,
        open_store: Callable[[], Any],
        stop: threading.Event,
        env: Mapping[str, str],
    ) -> None:
        self.config = config
        self._open_store = open_store
        self._stop = stop
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._generation = 0
        self._connected = threading.Event()
        self.counters = Counters()
        self._next_maintain = 0.0
        self._next_stats = time.monotonic() + STATS_EVERY_S
        self._pending: list[Incoming] = []  # taken from the queue, not yet committed
        self._builder = BatchBuilder(
            config.mqtt.topic_prefix, config.database.retention_days, PayloadDecoder()
        )
        self._client = self._build_client(env)

    # -- MQTT --------------------------------------------------------------------------
    def _build_client(self, env: Mapping[str, str]) -> mqtt.Client:
        cfg = self.config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        context = tls_context(cfg)
        if context is not None:
            client.tls_set_context(context)
            client.tls_insecure_set(cfg.tls.insecure)
        credentials = load_credentials(cfg, env)
        if credentials.username is not None:
            client.username_pw_set(credentials.username, credentials.password)
        client.connect_timeout = cfg.connect_timeout_s
        client.reconnect_delay_set(
            max(1, int(cfg.reconnect_initial_s)), max(1, int(cfg.reconnect_max_s))
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any = None
    ) -> None:
        if reason.is_failure:
            log.error("MQTT: %s", describe_refusal(reason))
            return
        self._generation += 1  # written only here and in _on_disconnect (network thread)
        log.info(
            "connected to %s:%d as %s (session present: %s)",
            self.config.mqtt.host, self.config.mqtt.port, self.config.mqtt.client_id,
            flags.session_present,
        )
        client.subscribe([(topic, 1) for topic in subscriptions(self.config)])
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self._generation += 1  # packet ids of the old connection are void now
        log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(
            Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation,
                     time.time())
        )

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.mqtt.session_expiry_s
        props.ReceiveMaximum = self.config.mqtt.receive_maximum
        return props

    # -- the loop ----------------------------------------------------------------------
    def _connect_first(self) -> bool:
        """The first connection, with one log line per kind of failure (TLS, DNS, refused)
        naming the setting to check; paho reconnects by itself afterwards."""
        cfg = self.config.mqtt
        backoff = Backoff(cfg.reconnect_initial_s, cfg.reconnect_max_s)
        last = ""
        while not self._stop.is_set():
            try:
                self._client.connect(
                    cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False,
                    properties=self._connect_properties(),
                )
                return True
            except (OSError, ValueError) as exc:
                message = describe_connect_error(exc, cfg)
                if message != last:
                    log.error("MQTT: %s; retrying", message)
                    last = message
                self._stop.wait(backoff.next_delay())
        return False

    def run(self) -> int:
        if not self._connect_first():
            return 0
        self._client.loop_start()
        store = None
        backoff = Backoff(0.5, 5.0)  # the database: retried within 5 s of its return
        self._next_maintain = 0.0
        try:
            while not self._stop.is_set():
                if store is None:
                    store = self._try_open(backoff, len(self._pending))
                    self._next_maintain = 0.0
                    continue
                try:
                    self._step(store)
                    backoff.reset()
                except Exception as exc:
                    if _is_conflict(exc):
                        log.info("transaction rolled back (%s); retried", _first(exc))
                        continue
                    if not _is_database_down(exc):
                        raise
                    self.counters.db_failures += 1
                    log.warning(
                        "database unavailable (%s); %d message(s) wait unacknowledged",
                        _first(exc), len(self._pending) + self._queue.qsize(),
                    )
                    _close_quietly(store)
                    store = None
                    self._stop.wait(backoff.next_delay())
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            if store is not None:
                _close_quietly(store)
            log.info("stopped: %s", self.counters)
        return 0

    def _step(self, store: Any) -> None:
        """Maintenance when due, then one batch stored and acknowledged. A batch whose
        transaction failed stays in ``_pending`` and is retried before anything new."""
        if time.monotonic() >= self._next_stats:
            self._next_stats = time.monotonic() + STATS_EVERY_S
            log.info("%s", self.counters)
        if time.monotonic() >= self._next_maintain:
            dropped = store.maintain(datetime.now(UTC))
            if dropped:
                log.info("retention: dropped %s", ", ".join(dropped))
            self._next_maintain = time.monotonic() + MAINTAIN_EVERY_S
        if not self._pending:
            self._pending = self._take()
        if self._pending:
            self._store(store, self._pending)
            self._ack(self._pending)
            self._pending = []

    def _try_open(self, backoff: Backoff, pending: int) -> Any:
        try:
            return self._open_store()
        except Exception as exc:
            if not _is_database_down(exc):
                raise
            self.counters.db_failures += 1
            delay = backoff.next_delay()
            log.warning(
                "cannot reach the database (%s); retry in %.1f s; %d message(s) wait "
                "unacknowledged", _first(exc), delay, pending + self._queue.qsize(),
            )
            self._stop.wait(delay)
            return None

    def _take(self) -> list[Incoming]:
        """Up to ``batch.max_messages`` messages, waiting at most ``max_wait_ms`` after the
        first (and at most 0.5 s for the first, so a stop is seen)."""
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        limit = self.config.batch.max_messages
        deadline = time.monotonic() + self.config.batch.max_wait_ms / 1000.0
        while len(batch) < limit:
            left = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
        return batch

    def _store(self, store: Any, messages: list[Incoming]) -> None:
        import psycopg

        batch = self._builder.build(messages, datetime.now(UTC))
        try:
            inserted = store.write(batch)
        except (psycopg.DataError, psycopg.IntegrityError):
            inserted = self._store_one_by_one(store, batch)
        self.counters.received += len(messages)
        self.counters.stored += inserted
        self.counters.duplicates += len(batch.windows) - inserted
        for dead in batch.dead:
            self.counters.dead[dead.reason] = self.counters.dead.get(dead.reason, 0) + 1
            log.warning("dead letter from %s: %s (%s)", dead.topic, dead.reason, dead.detail)

    def _store_one_by_one(self, store: Any, batch: Batch) -> int:
        """A row the database refuses (a value out of its range) must not block the batch:
        each window alone; a refused one becomes a dead letter (reason ``database``)."""
        import psycopg

        inserted = 0
        for row, source in zip(batch.windows, batch.sources, strict=True):
            try:
                inserted += store.write(Batch(windows=[row]))
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                batch.dead.append(dead_letter(source, "database", _first(exc)))
        store.write(Batch(status=batch.status, telemetry=batch.telemetry, dead=batch.dead))
        return inserted

    def _ack(self, messages: list[Incoming]) -> None:
        """Acknowledge the committed messages that came on the current connection. The
        generation is only written by paho's network thread (connect/disconnect callbacks);
        no lock is taken here because ``client.ack`` takes paho's callback mutex, which the
        network thread holds while it runs those callbacks. A reconnect completes (TCP,
        CONNACK) far slower than the step from this check to the PUBACK being queued, and
        paho drops queued packets of a closed connection."""
        for message in messages:
            if message.qos == 0:
                continue
            if message.generation != self._generation:
                self.counters.stale_acks += 1  # the broker re-sends it; stored once
                continue
            self._client.ack(message.mid, message.qos)
            self.counters.acked += 1


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure between collectors: retry the batch at once."""
    import psycopg

    return isinstance(exc, psycopg.errors.TransactionRollback)


def _is_database_down(exc: BaseException) -> bool:
    import psycopg

    down = (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.AdminShutdown)
    return isinstance(exc, down)


def _close_quietly(store: Any) -> None:
    try:
        store.close()
    except Exception as exc:
        log.debug("closing the database connection: %s", exc)
