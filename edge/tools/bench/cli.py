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

from edge.cli.flags import broker, config_number, number

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2

#: Bench windows go under their own topic prefix so they never mix with a sensor's data.
BENCH_TOPIC_PREFIX = "edge-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `edge bench` flags on ``parser``."""
    parser.add_argument("--source", help="any camera.source (default: the bundled sample clip)")
    parser.add_argument(
        "--frames", type=number(int, ge=1), default=200, help="timed frames (default 200)"
    )
    parser.add_argument(
        "--warmup", type=number(int, ge=0), default=10, help="untimed frames first (default 10)"
    )
    parser.add_argument(
        "--threads",
        type=config_number("detector.threads"),
        help="detector threads, 1 to 8 (default: the config's)",
    )
    parser.add_argument(
        "--config", "-c", type=Path, help="start from this edge.yaml (models, tiles, ...)"
    )
    parser.add_argument(
        "--window-s",
        type=config_number("aggregation.window_s"),
        default=1.0,
        help="window length, so windows close (default 1)",
    )
    parser.add_argument(
        "--mqtt",
        metavar="HOST[:PORT]",
        type=broker,
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


def _config(args: argparse.Namespace) -> Any:
    from edge.app import sample_video
    from edge.cli.flags import config_with_flags
    from edge.config import Config, load

    base = load(args.config) if args.config else Config()
    flags: dict[str, tuple[str, object]] = {
        "camera.source": ("--source", args.source or f"file:{sample_video()}"),
        "camera.loop": ("--source", False),
        "aggregation.window_s": ("--window-s", args.window_s),
        "mqtt.topic_prefix": ("topic prefix", BENCH_TOPIC_PREFIX),
    }
    if args.threads is not None:
        flags["detector.threads"] = ("--threads", args.threads)
    return config_with_flags(base, flags)


def run(args: argparse.Namespace) -> int:
    """Benchmark the pipeline; print Markdown or JSON."""
    import json

    from edge.camera import CaptureError
    from edge.tools.bench.report import to_markdown
    from edge.tools.bench.runner import NullSink, run_bench

    config = _config(args)  # a value the config refuses: UsageError, exit 2
    sinks: list[Any] = [NullSink()]
    paho = None
    if args.mqtt is not None:
        from edge.tools.bench.mqtt import PahoSink

        paho = PahoSink(*args.mqtt)
        if not paho.wait_connected(10.0):
            paho.close()
            return _fail(
                f"cannot connect to the broker at {args.mqtt[0]}:{args.mqtt[1]}", EXIT_FAILURE
            )
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
