"""Command-line verbs: run, demo, detect, config check (and the verbs other modules add).

Exit status: 0 success, 1 runtime failure (model, camera, state directory), 2 invalid input
(config file, flags, arguments) with a message that names the problem and the fix. Each verb
lives in its own module; this one only builds the parser and maps errors to exit statuses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge import __version__
from edge.cli.common import EXIT_FAILURE, EXIT_USAGE, UsageError
from edge.cli.config_check import cmd_config_check
from edge.cli.detect import cmd_detect
from edge.cli.flags import FlagParser, broker, config_number
from edge.cli.service import cmd_demo, cmd_run
from edge.config import ConfigError
from edge.config.source import redact_secrets

# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = FlagParser(
        prog="edge",
        description="On-device facial-expression estimates, published as anonymous MQTT "
        "window summaries.",
    )
    parser.add_argument("--version", action="version", version=f"edge-emotion {__version__}")
    _add_log_level(parser, default=None)
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
    demo.add_argument(
        "--mqtt", metavar="HOST[:PORT]", type=broker, help="also publish to this broker"
    )
    demo.add_argument("--config", "-c", type=Path, help="start from this config")
    demo.add_argument("--source", help="another camera.source instead of the sample")
    demo.add_argument(
        "--window-s",
        type=config_number("aggregation.window_s"),
        default=4.0,
        help="window length in seconds, 1 to 86400 (default 4)",
    )
    demo.set_defaults(func=cmd_demo)

    detect = verbs.add_parser("detect", help="faces and expression estimates in images (JSON)")
    detect.add_argument("images", nargs="+", type=Path)
    detect.add_argument("--config", "-c", type=Path, help="detector/classifier settings")
    detect.set_defaults(func=cmd_detect)

    _add_optional_verbs(verbs)
    for sub in _leaf_parsers(parser):  # `edge run --log-level DEBUG ...` works too
        _add_log_level(sub, default=argparse.SUPPRESS)
    return parser


def _add_log_level(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default=default,
        help="log level (default: logging.level for run, WARNING for the other verbs)",
    )


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every verb's parser (config check, not config), below ``parser``."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _leaf_parsers(sub) or [sub]
    return found


#: Verbs implemented in their own modules: (verb, module, help). Each module provides
#: ``add_arguments(parser)`` and ``run(args) -> int`` and must be cheap to import (heavy
#: imports go inside ``run``). Add a line here to add a verb.
PLUGGED_VERBS: tuple[tuple[str, str, str], ...] = (
    ("provision", "edge.provision.cli", "write first-boot files to an SD card or image"),
    ("privacy", "edge.privacy.report", "what leaves the device with a config (report)"),
    ("eval", "edge.tools.eval.cli", "accuracy, calibration and group gaps on labelled faces"),
    ("bench", "edge.tools.bench.cli", "time the pipeline per stage against bare model invokes"),
    ("notice", "edge.notice.cli", "print the transparency notice (A4 sign, full text)"),
    ("setup", "edge.installer.cli", "local, time-limited view to aim the camera, draw masks"),
    ("fleet", "edge.fleet.cli", "server side: collect into PostgreSQL, simulate, dashboard"),
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
        print(f"edge: {redact_secrets(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        from edge.errors import describe_failure

        message = describe_failure(exc)
        if message is None:
            raise
        print(f"edge: {redact_secrets(message)}", file=sys.stderr)
        return EXIT_FAILURE
    return result
