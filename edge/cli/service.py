"""``edge run`` (the service) and ``edge demo`` (the same pipeline on the bundled clip)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from edge.cli.common import EXIT_OK, install_stop_handlers, parse_broker, setup_logging
from edge.config import Config, load
from edge.publish.message import OutboundMessage

log = logging.getLogger("edge")


def cmd_run(args: argparse.Namespace) -> int:
    from edge.preflight import checked_config

    loaded, preflight = checked_config(args.config, os.environ)  # the same checks as config check
    config = loaded.config
    setup_logging(args.log_level or config.logging.level)
    for warning in preflight.warnings:
        log.warning("%s", warning)
    from edge.app import Service

    stop = threading.Event()
    install_stop_handlers(stop)
    Service(config, stop=stop).run()
    return EXIT_OK


class _PrintSink:
    """``edge demo`` prints each window payload as one JSON line."""

    def send(self, message: OutboundMessage) -> None:
        print(message.payload.decode(), flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging(args.log_level or "WARNING")
    from edge.app import Demo, Service, sample_video

    base = load(args.config) if args.config else Config()
    mqtt = base.mqtt
    if args.mqtt:
        host, port = parse_broker(args.mqtt)
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
    stop = threading.Event()
    install_stop_handlers(stop)
    demo = Demo(echo=_PrintSink(), mqtt=bool(args.mqtt))
    result = Service(config, stop=stop, demo=demo).run()
    print(f"demo: {result.frames} frames analysed, {result.windows} windows", file=sys.stderr)
    return EXIT_OK
