"""``edge setup --config PATH [--minutes M] [--listen ADDR:PORT]``: the installer's local,
time-limited view (off unless started by hand; ends by itself after M minutes).

127.0.0.1 by default (reach it through an SSH tunnel); on any other address a one-time token
is required, printed with the URL and as a QR code in the terminal. One client at a time.
Logged: start, the client's address, saves, end. Cheap to import; the work happens in
:func:`run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from edge.cli.common import EXIT_FAILURE, EXIT_OK, UsageError, install_stop_handlers, setup_logging

log = logging.getLogger("edge.setup")

DEFAULT_MINUTES = 10.0
MAX_MINUTES = 60.0
DEFAULT_PORT = 8421


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="edge.yaml")
    parser.add_argument("--minutes", default=str(DEFAULT_MINUTES), metavar="M",
                        help=f"end after M minutes (default {DEFAULT_MINUTES:g}, at most "
                        f"{MAX_MINUTES:g}; fractions allowed)")
    parser.add_argument("--listen", default=f"127.0.0.1:{DEFAULT_PORT}", metavar="ADDR:PORT",
                        help=f"address to bind (default 127.0.0.1:{DEFAULT_PORT}; any other "
                        "address needs the printed one-time token)")


def parse_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        raise UsageError(f"--minutes {text!r}: write a number of minutes, e.g. 10") from None
    if not 0 < minutes <= MAX_MINUTES:  # also refuses nan
        raise UsageError(f"--minutes {text}: must be more than 0 and at most {MAX_MINUTES:g}")
    return minutes


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected ADDR:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
    return host, int(port)


#: The only addresses served without a token (the default and its IPv6 twin).
LOCAL_ONLY = ("127.0.0.1", "::1", "localhost")


def needs_token(host: str) -> bool:
    """Any address but 127.0.0.1 / ::1 / localhost needs the one-time token (even another
    127.x address: the rule is about the binding, not the routing)."""
    return host not in LOCAL_ONLY


def camera_holder(config: object, env: dict[str, str]) -> str | None:
    """Whether a running ``edge run`` holds the state directory (and so the camera)."""
    from edge.config import Config
    from edge.service.state import lock_holder, resolve_state_dir

    assert isinstance(config, Config)
    return lock_holder(resolve_state_dir(config.state_dir, env))


def _print_qr(url: str) -> None:
    try:
        import segno
    except ImportError:
        print("(a QR code of this URL is printed when segno is installed: pip install "
              "'edge-emotion[setup]')", flush=True)
        return
    segno.make(url, error="l").terminal(out=sys.stdout, compact=True)
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from edge.preflight import checked_config

    minutes = parse_minutes(args.minutes)
    host, port = parse_listen(args.listen)
    env = dict(os.environ)
    loaded, _result = checked_config(args.config, env)  # the same checks as config check
    config = loaded.config
    setup_logging(args.log_level or "INFO")
    holder = camera_holder(config, env)
    if holder is not None:
        print(
            f"edge setup: the service (edge run, pid {holder}) holds the camera. Stop it "
            "first (sudo systemctl stop edge), run edge setup, then start it again (sudo "
            "systemctl start edge); or pause its analysis over MQTT (analysis/set OFF "
            "closes the camera, docs/mqtt.md) and resume it afterwards.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return _serve(config, Path(args.config), env, host=host, port=port, minutes=minutes)


def _serve(config: object, path: Path, env: dict[str, str], *, host: str, port: int,
           minutes: float) -> int:
    from edge.camera import open_source
    from edge.config import Config
    from edge.config.source import redact_secrets
    from edge.inference.analyzer import FaceAnalyzer
    from edge.installer.view import SetupView
    from edge.web import Router, SessionGate, WebServer
    from edge.web.server import wait_until

    assert isinstance(config, Config)
    if config.camera.source.startswith("file:") and not config.camera.loop:
        config = config.model_copy(update={"camera": config.camera.model_copy(
            update={"loop": True})})  # a clip replays while the installer looks
    loopback = not needs_token(host)
    gate = SessionGate(None if loopback else SessionGate.new_token())
    stop = threading.Event()
    install_stop_handlers(stop)
    deadline = time.monotonic() + minutes * 60.0
    analyzer = FaceAnalyzer.from_config(config)
    with ExitStack() as stack:
        source = stack.enter_context(open_source(config.camera))
        view = stack.enter_context(SetupView(config, path, analyzer, source, env=env,
                                                       deadline=deadline))
        router = Router()
        view.routes(router)
        try:
            server = stack.enter_context(WebServer(router, gate, host, port))
        except OSError as exc:
            raise UsageError(f"--listen {host}:{port}: cannot listen there ({exc.strerror})"
                             ) from None
        bound_host, bound_port = server.address
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"http://{shown}:{bound_port}/"
        if gate.token is not None:
            url += f"?token={gate.token}"
        ends = time.strftime("%H:%M:%S %Z", time.localtime(time.time() + minutes * 60.0))
        print(f"edge setup: open {url} (ends at {ends}, in {minutes:g} min)", flush=True)
        if loopback:
            print(f"  from another computer: ssh -L {bound_port}:127.0.0.1:{bound_port} "
                  f"USER@DEVICE, then open http://127.0.0.1:{bound_port}/", flush=True)
        else:
            _print_qr(url)
        log.info("setup view started on %s:%d for %g min (config %s, camera %s)",
                 bound_host, bound_port, minutes, path, redact_secrets(config.camera.source))
        for _left in wait_until(deadline, stop):
            pass
        log.info("setup view ended (%s)", "stopped" if stop.is_set() else "time limit reached")
    return EXIT_OK
