"""Service health for systemd: READY once the pipeline runs, WATCHDOG from the loop, STATUS.

The watchdog ping is sent from the processing loop itself (``on_tick``), so a stuck camera
read or interpreter stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.sdnotify import SystemdNotifier

STATUS_INTERVAL_S = 10.0


class ServiceHealth:
    """Turns pipeline progress into sd_notify messages, rate-limited."""

    def __init__(
        self,
        notifier: SystemdNotifier,
        describe: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notifier = notifier
        self._describe = describe
        self._clock = clock
        interval = notifier.watchdog_interval_s
        self._watchdog_every_s = interval / 2 if interval else None
        self._last_watchdog = self._last_status = float("-inf")

    def ready(self) -> None:
        self._notifier.ready()
        self._notifier.status(self._describe())
        self.tick()

    def tick(self) -> None:
        """Call once per loop iteration; sends at most one ping per half watchdog interval."""
        now = self._clock()
        if (
            self._watchdog_every_s is not None
            and now - self._last_watchdog >= self._watchdog_every_s
        ):
            self._notifier.watchdog()
            self._last_watchdog = now
        if now - self._last_status >= STATUS_INTERVAL_S:
            self._notifier.status(self._describe())
            self._last_status = now

    def stopping(self) -> None:
        self._notifier.stopping()
