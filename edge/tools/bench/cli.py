"""`edge bench`: frames/s, per-stage p50/p95, CPU per frame, peak RSS and the glue overhead.

Runs the real pipeline on a source without real-time pacing (default: the bundled sample
clip, replayed as often as needed) and prints a Markdown table, or JSON with ``--json``.
Exit status: 0 done, 2 invalid flags or source, 1 other failures (models, broker).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2

#: Bench windows go under their own topic prefix so they never mix with a sensor's data.
BENCH_TOPIC_PREFIX = "edge-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `edge bench` flags on ``parser``."""
    parser.add_argument("--source", help="any camera.source (default: the bundled sample clip)")
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first (default 10)")
    parser.add_argument("--threads", type=int, help="detector threads (default: the config's)")
    parser.add_argument(
        "--config", "-c", type=Path, help="start from this edge.yaml (models, tiles, ...)"
    )
    parser.add_argument(
        "--window-s", type=float, default=1.0, help="window length, so windows close (default 1)"
    )
    parser.add_argument(
        "--mqtt",
        metavar="HOST[:PORT]",
        help=f"also publish windows to this broker, under {BENCH_TOPIC_PREFIX}/...",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="pace frames to the source's frame rate and report CPU s per s of wall time",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _fail(message: str, code: int = EXIT_INVALID) -> int:
    from edge.config.source import redact_secrets

    print(f"edge bench: {redact_secrets(message)}", file=sys.stderr)
    return code


def _broker(value: str) -> tuple[str, int] | None:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, 1883
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _config(args: argparse.Namespace) -> Any:
    from edge.app import sample_video
    from edge.config import Config, load

    base = load(args.config) if args.config else Config()
    doc = base.model_dump()
    doc["camera"]["source"] = args.source or f"file:{sample_video()}"
    doc["camera"]["loop"] = False
    if args.threads is not None:
        doc["detector"]["threads"] = args.threads
    doc["aggregation"]["window_s"] = args.window_s
    doc["mqtt"]["topic_prefix"] = BENCH_TOPIC_PREFIX
    return Config.model_validate(doc)


def run(args: argparse.Namespace) -> int:
    """Benchmark the pipeline; print Markdown or JSON."""
    if args.frames < 1 or args.warmup < 0:
        return _fail("--frames must be >= 1 and --warmup >= 0")
    broker = _broker(args.mqtt) if args.mqtt else None
    if args.mqtt and broker is None:
        return _fail(f"--mqtt {args.mqtt!r}: expected HOST or HOST:PORT, e.g. localhost:1883")
    import json

    from pydantic import ValidationError

    from edge.camera import CaptureError
    from edge.tools.bench.report import to_markdown
    from edge.tools.bench.runner import NullSink, run_bench

    try:
        config = _config(args)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _fail(f"invalid setting ({errors})")
    sinks: list[Any] = [NullSink()]
    paho = None
    if broker is not None:
        from edge.tools.bench.mqtt import PahoSink

        paho = PahoSink(*broker)
        if not paho.wait_connected(10.0):
            paho.close()
            return _fail(f"cannot connect to the broker at {args.mqtt}", EXIT_FAILURE)
        sinks = [paho]
    try:
        result = run_bench(
            config, frames=args.frames, warmup=args.warmup, sinks=sinks, realtime=args.realtime
        )
    except CaptureError as exc:
        return _fail(f"--source: {exc}")
    finally:
        if paho is not None:
            paho.close()
    print(json.dumps(result, indent=2) if args.json else to_markdown(result), end="\n")
    return EXIT_OK
