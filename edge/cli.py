"""Command-line verbs: run, demo, detect, config check (and the verbs other modules add).

Exit status: 0 success, 1 runtime failure (model, camera, state directory), 2 invalid input
(config file, flags, arguments) with a message that names the problem and the fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config import Config, ConfigError, load

log = logging.getLogger("edge")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A flag or argument value is unusable; the message says which and how to fix it."""


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def sample_video() -> Path:
    """The bundled sample clip used by ``edge demo``."""
    return Path(str(resources.files("edge") / "data" / "sample.mp4"))


# ----------------------------------------------------------------------------- verbs


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load(args.path)
    from edge.app import device_id

    print(
        f"{args.path}: OK (device {device_id(config)}, source {config.camera.source}, "
        f"broker {config.mqtt.host}:{config.mqtt.port}, window {config.aggregation.window_s:g} s, "
        f"k={config.privacy.min_faces}, {_mqtt_security(config)})"
    )
    return EXIT_OK


def _mqtt_security(config: Config) -> str:
    """TLS and login as a phrase for `config check`; names files, never a password."""
    mqtt = config.mqtt
    tls = "no TLS"
    if mqtt.tls.enabled:
        tls = "TLS without host-name check" if mqtt.tls.insecure else "TLS"
    user = f"user {mqtt.username!r}" if mqtt.username else "no user name"
    source = mqtt.password_file or "$CREDENTIALS_DIRECTORY/mqtt_password if present"
    return f"MQTT {mqtt.protocol}, {tls}, {user}, password from {source}"


def cmd_run(args: argparse.Namespace) -> int:
    config = load(args.config)
    _setup_logging(args.log_level or config.logging.level)
    from edge.app import device_id, run_pipeline, state_dir
    from edge.health import ServiceHealth
    from edge.publish.payloads import Topics
    from edge.publish.service import open_service
    from edge.sdnotify import SystemdNotifier
    from edge.state import exclusive_state_dir

    stop = threading.Event()
    _install_stop_handlers(stop)
    topics = Topics(config.mqtt.topic_prefix, device_id(config))
    with ExitStack() as stack:
        notifier = stack.enter_context(SystemdNotifier.from_env(os.environ))
        state = stack.enter_context(exclusive_state_dir(state_dir(config)))
        # Outbox (with seq), publisher, remote pause, HA discovery, telemetry: edge.publish.
        mqtt = open_service(config, state, topics, stack=stack)
        progress = _Progress(mqtt.publisher)
        health = ServiceHealth(notifier, progress.describe)

        def on_tick(pipeline: Any) -> None:
            progress.update(pipeline, health)
            mqtt.tick(pipeline)

        run_pipeline(
            config,
            stop=stop,
            sinks=[mqtt.publisher],
            seq=mqtt.outbox,
            on_ready=health.ready,
            on_tick=on_tick,
            analysis=mqtt.analysis_enabled,
        )
        health.stopping()
    return EXIT_OK


class _Progress:
    """Frame rate and delivery state for systemd's STATUS= line."""

    def __init__(self, publisher: Any) -> None:
        self._publisher = publisher
        self._frames = 0
        self._windows = 0
        self._t0 = time.monotonic()
        self._f0 = 0

    def update(self, pipeline: Any, health: Any) -> None:
        self._frames = pipeline.frames
        self._windows = pipeline.windows
        health.tick()

    def describe(self) -> str:
        now = time.monotonic()
        fps = (self._frames - self._f0) / max(now - self._t0, 1e-3)
        self._t0, self._f0 = now, self._frames
        mqtt = "connected" if self._publisher.connected else "disconnected"
        return (
            f"fps={fps:.1f} windows={self._windows} mqtt={mqtt} unacked={self._publisher.unacked}"
        )


class _PrintSink:
    def send(self, message: Any) -> None:
        print(message.payload.decode(), flush=True)


def _parse_broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "1883")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--mqtt {value!r}: expected HOST or HOST:PORT, e.g. localhost:1883")
    return host, int(port)


def cmd_demo(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level or "WARNING")
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
    from edge.app import device_id, run_pipeline
    from edge.publish.mqtt import MqttPublisher
    from edge.publish.payloads import Topics
    from edge.publish.service import open_outbox

    stop = threading.Event()
    _install_stop_handlers(stop)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-demo-")))
        sinks: list[Any] = [_PrintSink()]
        outbox = open_outbox(config, tmp, stack)
        if args.mqtt:
            topics = Topics(config.mqtt.topic_prefix, device_id(config))
            window_s = config.aggregation.window_s
            sinks.append(
                stack.enter_context(MqttPublisher(config.mqtt, topics, outbox, window_s=window_s))
            )
        result = run_pipeline(config, stop=stop, sinks=sinks, seq=outbox)
    print(f"demo: {result.frames} frames analysed, {result.windows} windows", file=sys.stderr)
    return EXIT_OK


def cmd_detect(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level or "WARNING")
    import cv2
    import numpy as np

    from edge.inference.analyzer import FaceAnalyzer
    from edge.types import EXPRESSIONS

    config = load(args.config) if args.config else Config()
    analyzer = FaceAnalyzer.from_config(config)
    status = EXIT_OK
    for path in args.images:
        bgr = cv2.imread(str(path))
        if bgr is None:
            print(
                f"{path}: cannot read as an image (missing file or unknown format)", file=sys.stderr
            )
            status = EXIT_USAGE
            continue
        faces = analyzer.analyze(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8))
        doc = {
            "image": str(path),
            "faces": [
                {
                    "box": [
                        round(v, 1)
                        for v in (
                            f.detection.box.x0,
                            f.detection.box.y0,
                            f.detection.box.x1,
                            f.detection.box.y1,
                        )
                    ],
                    "score": round(f.detection.score, 4),
                    "expressions": {
                        k: round(p, 4) for k, p in zip(EXPRESSIONS, f.probs, strict=True)
                    },
                }
                for f in faces
            ],
        }
        print(json.dumps(doc))
    return status


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge",
        description="On-device facial-expression estimates, published as anonymous MQTT "
        "window summaries.",
    )
    parser.add_argument("--version", action="version", version=f"edge-emotion {__version__}")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = verbs.add_parser("run", help="run the sensor service")
    run.add_argument("--config", "-c", type=Path, required=True, help="edge.yaml")
    run.set_defaults(func=cmd_run)

    cfg = verbs.add_parser("config", help="configuration tools")
    cfg_verbs = cfg.add_subparsers(dest="config_verb", required=True, metavar="ACTION")
    check = cfg_verbs.add_parser("check", help="validate a config file; exit 2 on errors")
    check.add_argument("path", type=Path)
    check.set_defaults(func=cmd_config_check)

    demo = verbs.add_parser("demo", help="run the pipeline on the bundled sample clip")
    demo.add_argument("--mqtt", metavar="HOST[:PORT]", help="also publish to this broker")
    demo.add_argument("--config", "-c", type=Path, help="start from this config")
    demo.add_argument("--source", help="another camera.source instead of the sample")
    demo.add_argument("--window-s", type=float, default=4.0, help="window length (default 4)")
    demo.set_defaults(func=cmd_demo)

    detect = verbs.add_parser("detect", help="faces and expression estimates in images (JSON)")
    detect.add_argument("images", nargs="+", type=Path)
    detect.add_argument("--config", "-c", type=Path, help="detector/classifier settings")
    detect.set_defaults(func=cmd_detect)

    _add_optional_verbs(verbs)
    return parser


#: Verbs implemented in their own modules: (verb, module, help). Each module provides
#: ``add_arguments(parser)`` and ``run(args) -> int`` and must be cheap to import (heavy
#: imports go inside ``run``). Add a line here to add a verb.
PLUGGED_VERBS: tuple[tuple[str, str, str], ...] = (
    ("provision", "edge.provision.cli", "write first-boot files to an SD card or image"),
    ("privacy", "edge.privacy_report", "what leaves the device with a config (report)"),
    ("eval", "edge.evaluation.cli", "accuracy, calibration and group gaps on labelled faces"),
    ("bench", "edge.benchmark.cli", "time the pipeline per stage against bare model invokes"),
)


def _add_optional_verbs(verbs: Any) -> None:
    import importlib

    for verb, module_name, help_text in PLUGGED_VERBS:
        module = importlib.import_module(module_name)
        parser = verbs.add_parser(verb, help=help_text)
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"edge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        from edge.errors import describe_failure

        message = describe_failure(exc)
        if message is None:
            raise
        print(f"edge: {message}", file=sys.stderr)
        return EXIT_FAILURE
    return result
