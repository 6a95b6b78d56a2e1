"""Outbox throughput on this machine: windows committed per second (one fsync'd transaction
each, as in service) and drained per second (peek + batched ack, and end-to-end through a
real Mosquitto with PUBACKs).

    .venv/bin/python scripts/outbox_throughput.py [--count 2000] [--no-broker]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edge.config import MqttConfig
from edge.config.mqtt import OutboxConfig
from edge.publish.connect import MAX_INFLIGHT
from edge.publish.mqtt import MqttPublisher
from edge.publish.outbox import Outbox
from edge.publish.window import OutboundMessage, Topics

PAYLOAD = json.dumps({"schema": "edge.emotions/1", "pad": "x" * 650}).encode()  # ~ a window


def _fill(box: Outbox, count: int) -> float:
    t0 = time.perf_counter()
    for _ in range(count):
        seq = box.next()
        box.append(
            OutboundMessage("edge/bench/emotions", PAYLOAD, 1, seq=seq, due_s=time.time()),
            time.time(),
        )
    return count / (time.perf_counter() - t0)


def _drain_local(box: Outbox) -> float:
    count, t0 = box.depth, time.perf_counter()
    while rows := box.peek(0, MAX_INFLIGHT):
        box.ack([r.seq for r in rows])
    return count / (time.perf_counter() - t0)


def _drain_broker(box: Outbox, work: Path) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = work / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        cfg = MqttConfig(host="127.0.0.1", port=port)
        count = box.depth
        with MqttPublisher(cfg, Topics("edge", "bench"), box, window_s=60.0, env={}) as pub:
            if not pub.wait_connected(10):
                raise SystemExit("broker did not accept the connection")
            t0 = time.perf_counter()
            while box.depth:
                time.sleep(0.005)
            return count / (time.perf_counter() - t0)
    finally:
        broker.terminate()
        broker.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--no-broker", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        work = Path(tmp)
        box = Outbox(work / "outbox.db", OutboxConfig())
        print(f"commit (synchronous=FULL, 1 tx/window): {_fill(box, args.count):8.0f} msg/s")
        print(f"drain, storage only (peek+ack x{MAX_INFLIGHT}):  {_drain_local(box):8.0f} msg/s")
        if not args.no_broker:
            _fill(box, args.count)
            print(f"drain via Mosquitto (QoS 1, PUBACK):   {_drain_broker(box, work):8.0f} msg/s")
        box.close()


if __name__ == "__main__":
    main()
