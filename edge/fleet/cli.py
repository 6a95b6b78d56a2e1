"""``edge fleet collect | simulate | web``: the server side (docs/fleet.md).

Cheap to import (the device's ``edge`` command lists the verb): the database driver and the
web server are imported inside the verbs. Every flag error is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from edge.cli.common import EXIT_USAGE, UsageError, parse_broker


class OneLineParser(argparse.ArgumentParser):
    """A flag error is one line (``edge fleet collect: --rate: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Unknown flags are this verb's error (one line), not the top-level parser's."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(
        dest="fleet_verb", required=True, metavar="ACTION", parser_class=OneLineParser
    )
    collect = verbs.add_parser("collect", help="store windows from the broker in PostgreSQL")
    collect.add_argument("--config", "-c", type=Path, help="fleet YAML file (docs/fleet.md)")
    collect.add_argument("--mqtt", metavar="HOST[:PORT]", help="the broker")
    collect.add_argument("--dsn", help="libpq connection string of the database")
    collect.add_argument("--client-id", help="stable MQTT client id (default fleet-<hostname>)")
    collect.add_argument(
        "--group", help="shared-subscription group (default edge-fleet; '' for plain ones)"
    )
    collect.add_argument("--topic-prefix", help="devices' mqtt.topic_prefix (default edge)")
    collect.set_defaults(fleet_func=_collect)

    sim = verbs.add_parser("simulate", help="publish valid windows from N simulated devices")
    sim.add_argument("--mqtt", metavar="HOST[:PORT]", required=True, help="the broker")
    sim.add_argument("--devices", type=_positive_int, default=10, help="devices (default 10)")
    sim.add_argument("--rate", type=_positive_float, default=1.0,
                     help="windows per second per device (default 1)")
    sim.add_argument("--seconds", type=_positive_float, help="stop after this long")
    sim.add_argument("--prefix", default="sim", help="device id prefix (default sim)")
    sim.add_argument("--topic-prefix", default="edge", help="topic prefix (default edge)")
    sim.add_argument("--connections", type=_positive_int, default=4,
                     help="MQTT connections the devices are spread over when --shared-clients "
                     "is given (default 4)")
    sim.add_argument("--shared-clients", action="store_true",
                     help="publish all devices through --connections clients instead of one "
                     "client id per device (for loads beyond the broker's connection limit)")
    sim.set_defaults(fleet_func=_simulate)

    web = verbs.add_parser("web", help="the fleet dashboard")
    web.add_argument("--dsn", required=True, help="libpq connection string of the database")
    web.add_argument("--listen", default="127.0.0.1:8080", metavar="ADDR:PORT",
                     help="where to listen (default 127.0.0.1:8080)")
    web.add_argument("--token-file", type=Path,
                     help="file holding the access token (required off loopback)")
    web.set_defaults(fleet_func=_web)
    parser.set_defaults(func=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def run(args: argparse.Namespace) -> int:
    if args.fleet_verb != "simulate":
        _need_extra()
    result: int = args.fleet_func(args)
    return result


def _need_extra() -> None:
    """The database driver and the schema validator are the ``fleet`` extra."""
    import importlib.util

    missing = [m for m in ("psycopg", "jsonschema") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"{' and '.join(missing)} not installed: the fleet verbs need the fleet extra, "
            "pip install 'edge-emotion[fleet]' (a device does not need it)"
        )


def collect_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as config overrides (flags win over the file)."""
    mqtt: dict[str, Any] = {}
    if args.mqtt:
        mqtt["host"], mqtt["port"] = parse_broker(args.mqtt)
    for flag, key in (("client_id", "client_id"), ("group", "group"),
                      ("topic_prefix", "topic_prefix")):
        if getattr(args, flag) is not None:
            mqtt[key] = getattr(args, flag)
    out: dict[str, Any] = {"mqtt": mqtt} if mqtt else {}
    if args.dsn:
        out["database"] = {"dsn": args.dsn}
    return out


def read_secret(path: Path | None, credential: str, key: str) -> str | None:
    """The first line of ``path``, else of ``$CREDENTIALS_DIRECTORY/<credential>`` when it
    exists; None when neither is set (an empty file is no password)."""
    if path is None and os.environ.get("CREDENTIALS_DIRECTORY"):
        candidate = Path(os.environ["CREDENTIALS_DIRECTORY"]) / credential
        if candidate.exists():
            path, key = candidate, f"$CREDENTIALS_DIRECTORY/{credential}"
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{key}: cannot read {path} ({type(exc).__name__}); fix the path or "
                         "its permissions") from None
    return text.splitlines()[0] if text.strip() else None


def _collect(args: argparse.Namespace) -> int:
    import threading

    from edge.cli.common import install_stop_handlers, setup_logging
    from edge.fleet.config import DB_CREDENTIAL_NAME, default_client_id, load_fleet_config

    config = load_fleet_config(args.config, collect_overrides(args))
    if not config.database.dsn:
        raise UsageError("no database: pass --dsn 'host=... dbname=...' or set database.dsn")
    if config.mqtt.client_id is None:
        config = config.model_copy(
            update={"mqtt": config.mqtt.model_copy(update={"client_id": default_client_id()})}
        )
    setup_logging(args.log_level or "INFO")
    from edge.fleet.collector import Collector
    from edge.fleet.store import Store
    from edge.publish.connect import MqttSetupError

    db = config.database
    password = read_secret(db.password_file, DB_CREDENTIAL_NAME, "database.password_file")

    def open_store() -> Store:
        store = Store(db.dsn, password=password, retention_days=db.retention_days,
                      timeout_s=db.timeout_s)
        try:
            store.migrate()
            store.assign_sites(config.sites)
        except BaseException:
            store.close()
            raise
        return store

    stop = threading.Event()
    install_stop_handlers(stop)
    try:
        collector = Collector(config, open_store, stop, os.environ)
    except MqttSetupError as exc:
        raise UsageError(str(exc)) from None
    return collector.run()


def _simulate(args: argparse.Namespace) -> int:
    from edge.cli.common import setup_logging
    from edge.fleet.simulate import simulate

    host, port = parse_broker(args.mqtt)
    setup_logging(args.log_level or "INFO")
    return simulate(args, host, port)


def _web(args: argparse.Namespace) -> int:
    from edge.cli.common import setup_logging
    from edge.fleet.web import serve

    setup_logging(args.log_level or "INFO")
    return serve(args)
