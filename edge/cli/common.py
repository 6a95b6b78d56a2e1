"""What every verb shares: exit statuses, the usage error, logging set-up, stop signals."""

from __future__ import annotations

import logging
import signal
import sys
import threading

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A flag or argument value is unusable; the message says which and how to fix it."""


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT only set ``stop``; the loop notices within its frame timeout."""

    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
