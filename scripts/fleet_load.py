"""Load benchmark of the fleet collector (issue 20): N simulated devices publish through a
real Mosquitto into PostgreSQL (durable: fsync on) via one or more `edge fleet collect`
processes. Reports sustained windows/s into PostgreSQL, end-to-end latency p50/p95 (window
close on the simulator -> row inserted, same host clock), database size per million windows,
and whether anything was lost or duplicated.

    python scripts/fleet_load.py --devices 1000 --rate 1 --seconds 300 --collectors 1 2

Starts its own Mosquitto and PostgreSQL (Debian packages; as root PostgreSQL runs as nobody)
with the helpers the tests use (tests/conftest.py, tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import Broker, free_port  # noqa: E402
from tests.fleetparts import (  # noqa: E402
    FLEET_BROKER_CONF,
    CollectorProc,
    query,
    scalar,
    wait_until,
)
from tests.pgserver import PgServer  # noqa: E402

STATS = """
SELECT count(*),
       count(DISTINCT (device, epoch, seq)),
       extract(epoch FROM max(received_at) - min(received_at)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - window_end)),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - window_end)),
       max(extract(epoch FROM received_at - window_end))
FROM emotion_windows
"""
SIZE = """
SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits
WHERE inhparent = 'emotion_windows'::regclass
"""


def one_run(args: argparse.Namespace, collectors: int, work: Path) -> dict[str, object]:
    pg = PgServer(port=free_port(), root=Path(tempfile.mkdtemp(prefix="edge-pg-")),
                  durable=True)
    broker = Broker(port=free_port(), workdir=work, extra_conf=FLEET_BROKER_CONF)
    procs: list[CollectorProc] = []
    try:
        pg.init()
        pg.start()
        broker.start()
        for i in range(collectors):
            procs.append(CollectorProc(broker.port, pg.dsn, f"fleet-{i}",
                                       work / f"collector-{i}.log").start())
        wait_until(lambda: all("connected to" in p.text() for p in procs), 60, "collectors up")
        wait_until(lambda: scalar(pg.dsn, "SELECT count(*) FROM schema_migrations"), 60,
                   "migrations")
        sim = [sys.executable, "-m", "edge", "fleet", "simulate", "--mqtt",
               f"127.0.0.1:{broker.port}", "--devices", str(args.devices), "--rate",
               str(args.rate), "--seconds", str(args.seconds)]
        if args.shared_clients:
            sim += ["--shared-clients", "--connections", str(args.shared_clients)]
        started = time.monotonic()
        res = subprocess.run(sim, check=False, capture_output=True, text=True,
                             timeout=args.seconds + 600)
        sim_s = time.monotonic() - started
        match = re.search(r"published (\d+) windows", res.stdout)
        if match is None:
            raise RuntimeError(f"simulator failed: {res.stdout}{res.stderr[-2000:]}")
        published = int(match.group(1))
        drain_started = time.monotonic()
        last, last_change = -1, time.monotonic()
        while True:  # wait until everything is stored, or nothing moved for 60 s
            stored = int(scalar(pg.dsn, "SELECT count(*) FROM emotion_windows") or 0)
            if stored >= published:
                break
            if stored != last:
                last, last_change = stored, time.monotonic()
            elif time.monotonic() - last_change > 60:
                break
            time.sleep(1)
        drain_s = time.monotonic() - drain_started
        rows, distinct, span, p50, p95, worst = query(pg.dsn, STATS)[0]
        size = int(scalar(pg.dsn, SIZE) or 0)
        gaps = int(scalar(pg.dsn, "SELECT count(*) FROM seq_gaps") or 0)
        return {
            "collectors": collectors,
            "devices": args.devices,
            "rate_per_device": args.rate,
            "seconds": args.seconds,
            "published": published,
            "broker_acked_all": "acknowledged all: True" in res.stdout,
            "load_avg_1m_at_end": round(os.getloadavg()[0], 1),
            "stored": rows,
            "duplicates": rows - distinct,
            "lost": published - rows,
            "seq_gaps": gaps,
            "simulator_s": round(sim_s, 1),
            "offered_per_s": round(published / sim_s, 1),
            "drain_after_publishing_s": round(drain_s, 1),
            "stored_per_s": round(rows / float(span), 1) if span else None,
            "latency_p50_s": round(float(p50), 3),
            "latency_p95_s": round(float(p95), 3),
            "latency_max_s": round(float(worst), 3),
            "table_bytes": size,
            "bytes_per_million_windows": round(size / rows * 1e6) if rows else None,
        }
    finally:
        for proc in procs:
            proc.stop()
        broker.stop()
        pg.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--collectors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shared-clients", type=int, default=0,
                        help="spread the devices over this many MQTT connections")
    args = parser.parse_args()
    for n in args.collectors:
        with tempfile.TemporaryDirectory(prefix="fleet-load-") as work:
            result = one_run(args, n, Path(work))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
