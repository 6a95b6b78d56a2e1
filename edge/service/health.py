"""Service health for systemd: READY once the pipeline runs, WATCHDOG from the loop, STATUS.

The watchdog ping is sent from the processing loop itself (a tick per loop pass), so a stuck camera
read or interpreter stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from edge.service.sdnotify import SystemdNotifier
from edge.types import PipelineSnapshot

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


class DeliveryState(Protocol):
    """What the status line shows of the MQTT side."""

    @property
    def connected(self) -> bool: ...

    @property
    def unacked(self) -> int: ...


class StatusLine:
    """Frame rate and delivery state for systemd's STATUS= line."""

    def __init__(
        self,
        snapshot: Callable[[], PipelineSnapshot],
        delivery: DeliveryState,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._delivery = delivery
        self._clock = clock
        self._t0 = clock()
        self._f0 = 0

    def describe(self) -> str:
        now = self._clock()
        snap = self._snapshot()
        fps = (snap.frames_processed - self._f0) / max(now - self._t0, 1e-3)
        self._t0, self._f0 = now, snap.frames_processed
        mqtt = "connected" if self._delivery.connected else "disconnected"
        return (
            f"fps={fps:.1f} windows={snap.windows} mqtt={mqtt} unacked={self._delivery.unacked}"
        )
