"""``edge run`` (the service) and ``edge demo`` (the same pipeline on the bundled clip)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from edge.cli.common import EXIT_OK, UsageError, install_stop_handlers, setup_logging
from edge.config import Config, load
from edge.publish.message import OutboundMessage

log = logging.getLogger("edge")


def cmd_run(args: argparse.Namespace) -> int:
    from edge.config.loader import load_document
    from edge.preflight import run_preflight

    loaded = load_document(args.config)  # validation errors first, as in config check
    setup_logging(args.log_level or loaded.config.logging.level)  # before the models load
    preflight = run_preflight(loaded, os.environ)  # the same checks as config check
    for warning in preflight.warnings:
        log.warning("%s", warning)
    from edge.app import Service

    stop = threading.Event()
    install_stop_handlers(stop)
    Service(preflight.ready(loaded.file), stop=stop).run()  # models, TLS, source made once
    return EXIT_OK


class _PrintSink:
    """``edge demo`` prints each window payload as one JSON line."""

    def send(self, message: OutboundMessage) -> None:
        print(message.payload.decode(), flush=True)


def _parse_broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "1883")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--mqtt {value!r}: expected HOST or HOST:PORT, e.g. localhost:1883")
    return host, int(port)


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging(args.log_level or "WARNING")
    from edge.app import Demo, Service, sample_video

    base = load(args.config) if args.config else Config()
    mqtt = base.mqtt
    if args.mqtt:
        host, port = _parse_broker(args.mqtt)
        mqtt = mqtt.model_copy(update={"host": host, "port": port})
    source = args.source or f"file:{sample_video()}"
    config = Config.model_validate(
        {
            **base.model_dump(),
            "camera": {**base.camera.model_dump(), "source": source, "loop": False},
            "aggregation": {"window_s": args.window_s},
            "mqtt": mqtt.model_dump(),
        }
    )
    from edge.preflight import prepare

    prepared, preflight = prepare(config, os.environ, "edge demo")
    for warning in preflight.warnings:
        log.warning("%s", warning)
    stop = threading.Event()
    install_stop_handlers(stop)
    demo = Demo(echo=_PrintSink(), mqtt=bool(args.mqtt))
    result = Service(prepared, stop=stop, demo=demo).run()
    print(f"demo: {result.frames} frames analysed, {result.windows} windows", file=sys.stderr)
    return EXIT_OK
