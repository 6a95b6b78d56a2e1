"""Soak: the real `edge run` on the looped bundled clip against a real Mosquitto, sampled.

Starts Mosquitto on a free loopback port, runs `python -m edge run` with a temporary config
(camera ``file:edge/data/sample.mp4``, ``loop: true``, ``--window-s`` windows, a temporary
state dir), counts the windows a paho subscriber receives and checks their ``seq`` for gaps and
duplicates, and samples the service process every ``--interval-s``: RSS, USS and PSS (psutil,
from /proc/PID/smaps), open fds, threads, CPU seconds. Writes ``samples.csv``, ``summary.json``
and the service's log under ``--out`` and prints a summary (RSS slope per hour over the second
half of the run, min/max). Stops by itself after ``--minutes``.

    .venv/bin/python scripts/soak.py --minutes 60 --out /work/runs/soak

With ``--tracemalloc N`` the service runs with ``PYTHONTRACEMALLOC=N`` (Python's own switch;
no code in edge/ reads it) and its Python heap (traced bytes) is sampled in-process by a small
probe thread that this script injects via ``sitecustomize``; it slows the service, so use it to
find a cause, not to measure RSS.

Exit status: 0 when the service ran the whole time, no window was lost or duplicated and it
stopped cleanly on SIGTERM; 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SAMPLE_CLIP = REPO_ROOT / "edge" / "data" / "sample.mp4"
DEVICE = "soak"


@dataclass(frozen=True)
class Sample:
    """One look at the service process."""

    t_s: float  # seconds since the service started
    rss_kb: int
    uss_kb: int | None
    pss_kb: int | None
    fds: int
    threads: int
    cpu_s: float
    windows: int  # windows received so far
    heap_kb: int | None = None  # Python heap (tracemalloc traced), only with --tracemalloc


@dataclass(frozen=True)
class Summary:
    minutes: float
    samples: int
    windows: int
    seq_gaps: int
    seq_duplicates: int
    rss_min_kb: int
    rss_max_kb: int
    rss_first_kb: int
    rss_last_kb: int
    rss_slope_kb_per_h: float  # least squares over the second half
    uss_slope_kb_per_h: float | None
    fds_min: int
    fds_max: int
    threads_min: int
    threads_max: int


def slope_per_hour(ts: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` against ``ts`` (seconds), per hour; 0 for < 2 points."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt = sum(ts) / n
    mv = sum(values) / n
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return 0.0
    cov = sum((t - mt) * (v - mv) for t, v in zip(ts, values, strict=True))
    return cov / var * 3600.0


def seq_problems(seqs: Sequence[int]) -> tuple[int, int]:
    """(missing seq numbers between the first and last seen, seq numbers seen more than once)."""
    if not seqs:
        return 0, 0
    unique = set(seqs)
    duplicates = len(seqs) - len(unique)
    gaps = (max(unique) - min(unique) + 1) - len(unique)
    return gaps, duplicates


def summarize(samples: Sequence[Sample], seqs: Sequence[int]) -> Summary:
    """The numbers docs/benchmarks.md reports; slopes over the second half of the run (after
    warm-up), so start-up allocation does not count as growth."""
    if not samples:
        raise ValueError("no samples: the service died before the first sample")
    half = samples[len(samples) // 2 :] if len(samples) >= 4 else samples
    ts = [s.t_s for s in half]
    uss = [s.uss_kb for s in half]
    gaps, dups = seq_problems(seqs)
    return Summary(
        minutes=round(samples[-1].t_s / 60.0, 2),
        samples=len(samples),
        windows=len(seqs),
        seq_gaps=gaps,
        seq_duplicates=dups,
        rss_min_kb=min(s.rss_kb for s in samples),
        rss_max_kb=max(s.rss_kb for s in samples),
        rss_first_kb=samples[0].rss_kb,
        rss_last_kb=samples[-1].rss_kb,
        rss_slope_kb_per_h=round(slope_per_hour(ts, [s.rss_kb for s in half]), 1),
        uss_slope_kb_per_h=(
            None
            if any(u is None for u in uss)
            else round(slope_per_hour(ts, [float(u or 0) for u in uss]), 1)
        ),
        fds_min=min(s.fds for s in samples),
        fds_max=max(s.fds for s in samples),
        threads_min=min(s.threads for s in samples),
        threads_max=max(s.threads for s in samples),
    )


def table(samples: Sequence[Sample], every_min: float = 5.0) -> str:
    """A Markdown table of the first sample at or after every ``every_min`` minutes (and the
    last one), for docs/benchmarks.md."""
    rows = [
        "| minutes | RSS KiB | USS KiB | fds | threads | windows |",
        "|---|---|---|---|---|---|",
    ]
    picked: list[Sample] = []
    mark = 0.0
    for s in samples:
        if s.t_s / 60.0 >= mark - 1e-6:
            picked.append(s)
            mark = (int(s.t_s / 60.0 / every_min + 1e-6) + 1) * every_min
    if samples and (not picked or picked[-1] is not samples[-1]):
        picked.append(samples[-1])
    for s in picked:
        uss = "" if s.uss_kb is None else f"{s.uss_kb:,}"
        rows.append(
            f"| {s.t_s / 60.0:.1f} | {s.rss_kb:,} | {uss} | {s.fds} | {s.threads} | {s.windows} |"
        )
    return "\n".join(rows)


def take_sample(proc: Any, t0: float, windows: int, heap_file: Path | None) -> Sample:
    """Read the numbers of a ``psutil.Process``."""
    mem = proc.memory_info()
    uss = pss = None
    try:
        full = proc.memory_full_info()
        uss = full.uss // 1024
        pss = getattr(full, "pss", 0) // 1024 or None
    except Exception:  # smaps may be unreadable; RSS still counts
        pass
    cpu = proc.cpu_times()
    heap = None
    if heap_file is not None and heap_file.exists():
        text = heap_file.read_text().strip()
        heap = int(text) // 1024 if text.isdigit() else None
    return Sample(
        t_s=round(time.monotonic() - t0, 1),
        rss_kb=mem.rss // 1024,
        uss_kb=uss,
        pss_kb=pss,
        fds=proc.num_fds(),
        threads=proc.num_threads(),
        cpu_s=round(cpu.user + cpu.system, 1),
        windows=windows,
        heap_kb=heap,
    )


def write_config(workdir: Path, port: int, window_s: float) -> Path:
    path = workdir / "edge.yaml"
    path.write_text(
        f"device:\n  id: {DEVICE}\n"
        f"camera:\n  source: file:{SAMPLE_CLIP}\n  loop: true\n"
        f"aggregation:\n  window_s: {window_s:g}\n"
        f"mqtt:\n  host: 127.0.0.1\n  port: {port}\n"
        f"state_dir: {workdir / 'state'}\n"
    )
    return path


# Injected into the service only with --tracemalloc: a daemon thread that writes the traced
# Python heap size to a file every second (the service itself has no such hook).
_PROBE = """
import os, threading, time, tracemalloc
_path = os.environ.get("SOAK_HEAP_FILE")
def _probe():
    while True:
        if tracemalloc.is_tracing():
            with open(_path + ".tmp", "w") as f:
                f.write(str(tracemalloc.get_traced_memory()[0]))
            os.replace(_path + ".tmp", _path)
            snap_dir = os.environ.get("SOAK_SNAPSHOT_DIR")
            if snap_dir and os.path.exists(os.path.join(snap_dir, "take")):
                os.remove(os.path.join(snap_dir, "take"))
                n = len([p for p in os.listdir(snap_dir) if p.endswith(".snap")])
                tracemalloc.take_snapshot().dump(os.path.join(snap_dir, f"{n:03d}.snap"))
        time.sleep(1)
if _path:
    threading.Thread(target=_probe, name="soak-heap-probe", daemon=True).start()
"""


class WindowCounter:
    """A paho subscriber on the emotions topic that keeps every window's seq."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.seqs: list[int] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        topic = f"edge/{DEVICE}/emotions"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-counter")

        def on_connect(c: Any, *_: Any) -> None:
            c.subscribe(topic, qos=1)
            self._connected.set()

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            seq = int(json.loads(msg.payload)["seq"])
            with self._lock:
                self.seqs.append(seq)

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("soak subscriber could not connect to the broker")
        self._client = client

    def count(self) -> int:
        with self._lock:
            return len(self.seqs)

    def snapshot(self) -> list[int]:
        with self._lock:
            return list(self.seqs)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _start_service(
    args: argparse.Namespace, out: Path, work: Path, port: int
) -> tuple[subprocess.Popen[bytes], Path | None]:
    """``python -m edge run`` on a temporary config, its log in ``out/edge.log``."""
    config = write_config(work, port, args.window_s)
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    heap_file: Path | None = None
    if args.tracemalloc:
        probe_dir = work / "probe"
        probe_dir.mkdir()
        (probe_dir / "sitecustomize.py").write_text(_PROBE)
        heap_file = out / "heap_bytes"
        (out / "snapshots").mkdir(exist_ok=True)
        env.update(
            PYTHONTRACEMALLOC=str(args.tracemalloc),
            SOAK_HEAP_FILE=str(heap_file),
            SOAK_SNAPSHOT_DIR=str(out / "snapshots"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(probe_dir), env.get("PYTHONPATH")])),
        )
    cmd = [sys.executable, "-m", "edge", "run", "--config", str(config)]
    with (out / "edge.log").open("w") as log:
        service = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
        )
    return service, heap_file


def _sample(
    args: argparse.Namespace,
    out: Path,
    service: subprocess.Popen[bytes],
    counter: WindowCounter,
    heap_file: Path | None,
) -> tuple[list[Sample], bool]:
    """Sample every ``args.interval_s`` until ``args.minutes`` passed (last sample at the end)
    or the service exited (returned True for "died")."""
    import psutil

    t0 = time.monotonic()
    proc = psutil.Process(service.pid)
    samples: list[Sample] = []
    end = t0 + args.minutes * 60.0
    next_at = t0 + min(args.interval_s, args.minutes * 60.0)
    snap_every = args.snapshot_every_min * 60.0 if heap_file is not None else math.inf
    next_snap = t0 + snap_every
    with (out / "samples.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(Sample)])
        writer.writeheader()
        while True:
            if service.poll() is not None:
                print(f"soak: edge run exited early with {service.returncode}", flush=True)
                return samples, True
            now = time.monotonic()
            if now >= next_snap:
                (out / "snapshots" / "take").touch()
                next_snap += snap_every
            if now >= next_at:
                sample = take_sample(proc, t0, counter.count(), heap_file)
                samples.append(sample)
                writer.writerow(asdict(sample))
                f.flush()
                print(
                    f"{sample.t_s / 60:6.1f} min  rss {sample.rss_kb / 1024:7.1f} MB  "
                    f"uss {(sample.uss_kb or 0) / 1024:7.1f} MB  fds {sample.fds:3d}  "
                    f"threads {sample.threads:2d}  windows {sample.windows}",
                    flush=True,
                )
                if now >= end:
                    return samples, False
                next_at = min(next_at + args.interval_s, end)
            time.sleep(max(0.05, min(next_at, next_snap) - time.monotonic()))


def run(args: argparse.Namespace) -> int:
    from tests.conftest import Broker, free_port

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    broker = Broker(port=free_port(), workdir=work)
    broker.start()
    try:
        counter = WindowCounter(broker.port)
        service, heap_file = _start_service(args, out, work, broker.port)
        print(
            f"soak: edge run pid {service.pid}, broker :{broker.port}, window "
            f"{args.window_s:g} s, {args.minutes:g} min, sampling every {args.interval_s:g} s "
            f"-> {out}",
            flush=True,
        )
        try:
            samples, died = _sample(args, out, service, counter, heap_file)
        finally:
            rc = _stop(service)
            time.sleep(0.5)  # let the final partial window (published on SIGTERM) arrive
            counter.close()
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    if not samples:
        print("soak: no sample taken (the service died at once); see edge.log", flush=True)
        return 1
    summary = summarize(samples, counter.snapshot())
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "service_exit": rc,
        "died_early": died,
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        **asdict(summary),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "table.md").write_text(table(samples) + "\n")
    print(table(samples), flush=True)
    print(json.dumps(result, indent=2), flush=True)
    ok = not died and rc == 0 and summary.seq_gaps == 0 and summary.seq_duplicates == 0
    return 0 if ok else 1


def _stop(service: subprocess.Popen[bytes]) -> int | None:
    if service.poll() is not None:
        return service.returncode
    service.send_signal(signal.SIGTERM)
    try:
        return service.wait(15)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait(5)
        return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="run time (default 60)")
    parser.add_argument("--interval-s", type=float, default=30.0, help="sample period")
    parser.add_argument("--window-s", type=float, default=10.0, help="aggregation.window_s")
    parser.add_argument("--out", default="soak-out", help="directory for CSV, summary, log")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES",
        help="run the service under tracemalloc with this many frames (slows it)",
    )
    parser.add_argument(
        "--snapshot-every-min", type=float, default=10.0,
        help="with --tracemalloc: dump a heap snapshot this often into OUT/snapshots",
    )
    args = parser.parse_args(argv)
    for name in ("minutes", "interval_s", "window_s"):
        value = getattr(args, name)
        if not math.isfinite(value) or value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    return args


if __name__ == "__main__":
    sys.exit(run(parse_args()))
