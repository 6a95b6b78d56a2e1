"""``edge fleet simulate``: N simulated devices publishing valid ``edge.emotions/1`` windows.

Each device has its own client id (``edge-<id>``, like a real device), epoch and ``seq``, and
its payloads are built by the device's own code (:func:`edge.publish.window.window_message`),
so the collector sees exactly what devices send. Window times are the publish times
(``window_end`` = when it was sent), which lets a benchmark measure end-to-end latency from
``received_at - window_end`` in the database. One thread drives every client (paho's
external loop on one epoll selector: ``select()`` cannot watch descriptors past 1024),
paced to ``devices x rate`` windows per second.
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import secrets
import selectors
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.publish.message import ModelIds, OutboundMessage
from edge.publish.topics import STATUS_ONLINE, Topics
from edge.publish.window import window_message
from edge.types import EXPRESSIONS, Window

log = logging.getLogger(__name__)

MODELS = ModelIds("simulated@000000000000", "simulated@000000000000")
K = 3


def synthetic_window(start_s: float, end_s: float, rng: random.Random) -> Window:
    """A plausible window: 0-6 faces; fewer than k = 3 is suppressed (no shares)."""
    faces = rng.randint(0, 6)
    if faces < K:
        return Window(start_s, end_s, faces, faces * 0.4, 3.0 if faces else None, None, None,
                      None, None, None, 10, True, False)
    raw = [rng.random() for _ in EXPRESSIONS]
    total = sum(raw)
    shares = {e: round(v / total, 4) for e, v in zip(EXPRESSIONS, raw, strict=True)}
    dominant = max(shares, key=lambda e: shares[e])
    counts = dict.fromkeys(EXPRESSIONS, 0)
    counts[dominant] = faces
    valence = round(shares["happy"] - shares["angry"] - shares["disgust"] - shares["fear"]
                    - shares["sad"], 4)
    return Window(start_s, end_s, faces, faces * 0.6, 4.0, shares, dominant, counts,
                  valence, 0.7, 10, False, False)


@dataclass
class SimDevice:
    device_id: str
    client: mqtt.Client
    topics: Topics
    epoch: str = field(default_factory=lambda: secrets.token_hex(8))
    seq: int = 0
    last_end_s: float = 0.0

    def reflash(self) -> None:
        """A wiped state directory: a new epoch, seq from 1 again."""
        self.epoch = secrets.token_hex(8)
        self.seq = 0


class SimulatedFleet:
    """Simulated devices, each with its own MQTT connection unless ``connections`` is set
    (then devices share that many connections)."""

    def __init__(
        self,
        host: str,
        port: int,
        devices: int,
        *,
        id_prefix: str = "sim",
        topic_prefix: str = "edge",
        connections: int | None = None,
        seed: int = 0,
    ) -> None:
        _raise_open_files(devices + 64)
        self._rng = random.Random(seed)
        self._host, self._port = host, port
        self.published = 0
        self.acked = 0
        self._lock = threading.Lock()
        clients = [self._client(f"edge-{id_prefix}-{i:05d}") for i in range(connections or devices)]
        self.devices = [
            SimDevice(f"{id_prefix}-{i:05d}", clients[i % len(clients)],
                      Topics(topic_prefix, f"{id_prefix}-{i:05d}"))
            for i in range(devices)
        ]
        self.clients = clients
        self._selector = selectors.DefaultSelector()
        self._next_misc = 0.0

    def _client(self, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(100)

        def on_publish(*_: object) -> None:
            with self._lock:
                self.acked += 1

        client.on_publish = on_publish
        return client

    def connect(self, timeout_s: float = 60.0) -> None:
        for client in self.clients:
            client.connect(self._host, self._port, keepalive=60)
            sock = client.socket()
            if sock is not None:
                self._selector.register(sock, selectors.EVENT_READ, client)
            self.pump(0.0)
        deadline = time.monotonic() + timeout_s
        while not all(c.is_connected() for c in self.clients):
            if time.monotonic() > deadline:
                raise TimeoutError("simulated devices could not all connect")
            self.pump(0.01)
        for device in self.devices:
            device.client.publish(device.topics.status, STATUS_ONLINE, qos=1, retain=True)
            self.published += 1

    def pump(self, timeout_s: float = 0.0) -> None:
        """Network I/O: read what arrived (PUBACKs, CONNACKs), write what is pending, and
        once a second paho's housekeeping (keep-alive)."""
        for key, _events in self._selector.select(timeout_s):
            key.data.loop_read()
        now = time.monotonic()
        if now >= self._next_misc:
            self._next_misc = now + 1.0
            for client in self.clients:
                if client.want_write():
                    client.loop_write()
                client.loop_misc()

    def message(self, device: SimDevice, now_s: float) -> OutboundMessage:
        device.seq += 1
        start = device.last_end_s or now_s - 1.0
        device.last_end_s = now_s
        window = synthetic_window(start, now_s, self._rng)
        return window_message(window, seq=device.seq, topics=device.topics, models=MODELS,
                              qos=1, epoch=device.epoch)

    def publish(self, device: SimDevice, now_s: float | None = None) -> OutboundMessage:
        message = self.message(device, time.time() if now_s is None else now_s)
        device.client.publish(message.topic, message.payload, qos=1)
        self.published += 1
        return message

    def run(self, rate: float, seconds: float | None, stop: threading.Event) -> None:
        """Publish ``rate`` windows per second per device (round robin, evenly spaced)."""
        interval = 1.0 / (rate * len(self.devices))
        start = time.monotonic()
        n = 0
        while not stop.is_set():
            now = time.monotonic()
            if seconds is not None and now - start >= seconds:
                break
            due = int((now - start) / interval) + 1
            while n < due:
                self.publish(self.devices[n % len(self.devices)])
                n += 1
            self.pump(max(0.0, min(0.005, start + n * interval - time.monotonic())))

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Pump until every publish was acknowledged by the broker (True) or the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.acked >= self.published:
                    return True
            self.pump(0.01)
        return False

    def close(self) -> None:
        for client in self.clients:
            client.disconnect()
            client.loop_write()
        self._selector.close()


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def simulate(args: argparse.Namespace, host: str, port: int) -> int:
    from edge.cli.common import install_stop_handlers

    stop = threading.Event()
    install_stop_handlers(stop)
    fleet = SimulatedFleet(
        host, port, args.devices, id_prefix=args.prefix, topic_prefix=args.topic_prefix,
        connections=args.connections if args.shared_clients else None,
    )
    fleet.connect()
    log.info("%d simulated devices connected; %g windows/s each", args.devices, args.rate)
    started = time.monotonic()
    fleet.run(args.rate, args.seconds, stop)
    drained = fleet.drain(120.0)
    elapsed = time.monotonic() - started
    fleet.close()
    windows = fleet.published - len(fleet.devices)
    print(f"published {windows} windows from {args.devices} devices in {elapsed:.1f} s "
          f"({windows / elapsed:.0f}/s); broker acknowledged all: {drained} "
          f"({fleet.published - fleet.acked} unacknowledged)"
          )
    return 0 if drained else 1
