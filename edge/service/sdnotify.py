"""A small sd_notify(3) client: READY=1, WATCHDOG=1, STATUS= and STOPPING=1 for systemd.

The protocol is one datagram of newline-separated ``KEY=value`` assignments sent to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or an abstract name starting with ``@``).
Outside systemd (``NOTIFY_SOCKET`` unset) every method is a silent no-op. Send errors never
reach the caller: the first one is logged as a warning, later ones at debug level.

Typical use::

    with SystemdNotifier.from_env(os.environ) as notifier:
        load_models(); open_camera()
        notifier.ready()
        while running:
            process_frame()
            notifier.watchdog()          # at most every watchdog_interval_s / 2
        notifier.stopping()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from types import TracebackType

__all__ = ["SystemdNotifier"]

_LOG = logging.getLogger(__name__)

# A STATUS= text longer than this is cut: systemd shows one line, and the datagram stays small.
_MAX_STATUS_CHARS = 200


def _parse_address(value: str | None) -> str | bytes | None:
    """Map a ``NOTIFY_SOCKET`` value to a socket address, or None when unusable.

    ``/path`` is a filesystem socket; ``@name`` is an abstract socket (leading NUL byte).
    """
    if not value:
        return None
    if value.startswith("@"):
        if len(value) < 2:
            _LOG.warning("NOTIFY_SOCKET=%r names no abstract socket; sd_notify disabled", value)
            return None
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    _LOG.warning(
        "NOTIFY_SOCKET=%r is neither an absolute path nor @abstract; sd_notify disabled", value
    )
    return None


def _parse_watchdog_usec(env: Mapping[str, str], pid: int) -> int | None:
    """The watchdog interval in microseconds when it is meant for process ``pid``."""
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        _LOG.warning("WATCHDOG_USEC=%r is not an integer; ignoring it", raw)
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            _LOG.warning("WATCHDOG_PID=%r is not an integer; ignoring the watchdog", owner)
            return None
    return usec


class SystemdNotifier:
    """Sends sd_notify datagrams to systemd; a no-op when not started by systemd."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        """Create a notifier for ``address`` (a ``NOTIFY_SOCKET`` value, or None for no-op).

        ``watchdog_usec`` is the service watchdog interval (``WATCHDOG_USEC``), if any.
        """
        self._address = _parse_address(address)
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False
        self._closed = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, pid: int | None = None) -> SystemdNotifier:
        """Build a notifier from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

        ``pid`` is the process the watchdog must belong to (default: this process).
        """
        owner = os.getpid() if pid is None else pid
        return cls(env.get("NOTIFY_SOCKET"), _parse_watchdog_usec(env, owner))

    @property
    def enabled(self) -> bool:
        """True when datagrams are sent (a usable ``NOTIFY_SOCKET`` was given)."""
        return self._address is not None and not self._closed

    @property
    def watchdog_interval_s(self) -> float | None:
        """The systemd watchdog interval in seconds; ping at least twice per interval."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1_000_000

    def ready(self) -> None:
        """Tell systemd that start-up finished (models loaded, camera open)."""
        self.notify("READY=1")

    def watchdog(self) -> None:
        """Keep-alive ping; call it from the processing loop itself."""
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        """Set the one-line status shown by ``systemctl status`` (e.g. ``fps=9.8 outbox=0``)."""
        line = " ".join(text.split())[:_MAX_STATUS_CHARS]
        self.notify(f"STATUS={line}")

    def stopping(self) -> None:
        """Tell systemd that shutdown began."""
        self.notify("STOPPING=1")

    def notify(self, *assignments: str) -> None:
        """Send ``KEY=value`` assignments in one datagram; never raises."""
        address = self._address
        if address is None or self._closed or not assignments:
            return
        if any("\n" in item or "=" not in item for item in assignments):
            _LOG.debug("sd_notify: refusing malformed assignments %r", assignments)
            return
        payload = "\n".join(assignments).encode()
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.sendto(payload, address)
        except OSError as exc:
            self._report(exc)

    def _report(self, exc: OSError) -> None:
        if self._warned:
            _LOG.debug("sd_notify to %r failed again: %s", self._address, exc)
            return
        self._warned = True
        _LOG.warning(
            "sd_notify to %r failed: %s (further failures logged at debug)", self._address, exc
        )

    def close(self) -> None:
        """Close the socket; later calls are no-ops."""
        with self._lock:
            self._closed = True
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> SystemdNotifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SystemdNotifier(address={self._address!r}, "
            f"watchdog_interval_s={self.watchdog_interval_s!r}, enabled={self.enabled})"
        )
