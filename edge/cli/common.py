"""What every verb shares: exit statuses, the usage error, logging set-up, stop signals."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from edge.config.source import redact_secrets

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A flag or argument value is unusable; the message says which and how to fix it."""


def parse_broker(value: str, flag: str = "--mqtt") -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (default port 1883); a :class:`UsageError` otherwise."""
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "1883")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"{flag} {value!r}: expected HOST or HOST:PORT with a port from 1 to 65535, "
            "e.g. localhost:1883"
        )
    return host, int(port)


class RedactingFormatter(logging.Formatter):
    """Masks the user name and password of every URL in a log line (a safety net: sources are
    logged redacted already, but an exception text from a library may quote a URL)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT only set ``stop``; the loop notices within its frame timeout."""

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
