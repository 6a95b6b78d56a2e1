"""``edge run`` (the service) and ``edge demo`` (the same pipeline on the bundled clip)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from edge.cli.common import EXIT_FAILURE, EXIT_OK, install_stop_handlers, setup_logging
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


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging(args.log_level or "WARNING")
    from edge.app import Demo, Service, sample_video
    from edge.cli.flags import config_with_flags

    base = load(args.config) if args.config else Config()
    flags: dict[str, tuple[str, object]] = {
        "camera.source": ("--source", args.source or f"file:{sample_video()}"),
        "camera.loop": ("--source", False),
        "aggregation.window_s": ("--window-s", args.window_s),
    }
    if args.mqtt:
        flags["mqtt.host"] = ("--mqtt", args.mqtt[0])
        flags["mqtt.port"] = ("--mqtt", args.mqtt[1])
    config = config_with_flags(base, flags)
    from edge.preflight import prepare

    prepared, preflight = prepare(config, os.environ, "edge demo")
    for warning in preflight.warnings:
        log.warning("%s", warning)
    stop = threading.Event()
    install_stop_handlers(stop)
    demo = Demo(echo=_PrintSink(), mqtt=bool(args.mqtt))
    result = Service(prepared, stop=stop, demo=demo).run()
    print(f"demo: {result.frames} frames analysed, {result.windows} windows", file=sys.stderr)
    if result.undelivered:
        print(
            f"edge: {result.undelivered} of {result.windows} window(s) were not delivered to the "
            f"broker at {config.mqtt.host}:{config.mqtt.port} (see the MQTT warnings above: is "
            "a broker listening there?); the demo's outbox is temporary, so they are lost",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK
