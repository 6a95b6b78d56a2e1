"""Service health for systemd: READY once the camera's first open attempt finished,
WATCHDOG from the loop while every worker thread is alive, STATUS in words.

The watchdog ping is sent from the processing loop itself (a tick per loop pass), and only
while every worker thread (capture, MQTT) kept its last promise to beat again: a stuck
camera read, interpreter or network thread stops the pings and systemd restarts the service.
A worker that dies of an unexpected exception is logged with its traceback and ends the
service with a non-zero exit (:class:`WorkerFailedError`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from edge.service.sdnotify import SystemdNotifier
from edge.types import PipelineSnapshot

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 10.0
#: Slack on top of a worker's own promise before it counts as stalled.
STALL_GRACE_S = 5.0


class WorkerFailedError(RuntimeError):
    """A worker thread ended with an unexpected exception; the service stops non-zero."""


class Heartbeat:
    """One worker thread's liveness (:class:`edge.types.Liveness`): each beat promises the
    next within ``within_s``; a failure is kept for the loop to act on."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._deadline = float("inf")
        self._lock = threading.Lock()
        self.failure: BaseException | None = None

    def beat(self, within_s: float) -> None:
        deadline = self._clock() + within_s + STALL_GRACE_S
        with self._lock:
            self._deadline = deadline

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.failure = exc
            self._deadline = float("inf")

    def done(self) -> None:
        with self._lock:
            self._deadline = float("inf")

    def stalled_s(self, now: float) -> float:
        """How far past its promise the worker is (0 when it is on time)."""
        with self._lock:
            return max(0.0, now - self._deadline)


class Heartbeats:
    """The worker threads the service watches."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._beats: list[Heartbeat] = []

    def new(self, name: str) -> Heartbeat:
        beat = Heartbeat(name, self._clock)
        self._beats.append(beat)
        return beat

    def raise_if_failed(self) -> None:
        for beat in self._beats:
            if beat.failure is not None:
                raise WorkerFailedError(
                    f"the {beat.name} thread died ({type(beat.failure).__name__}: "
                    f"{beat.failure}); the traceback is in the log above; systemd restarts "
                    "the service"
                ) from beat.failure

    def stalled(self) -> list[tuple[str, float]]:
        now = self._clock()
        return [(b.name, s) for b in self._beats if (s := b.stalled_s(now)) > 0]


class ServiceHealth:
    """Turns pipeline progress into sd_notify messages, rate-limited."""

    def __init__(
        self,
        notifier: SystemdNotifier,
        describe: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
        workers: Heartbeats | None = None,
    ) -> None:
        self._notifier = notifier
        self._describe = describe
        self._clock = clock
        self._workers = workers or Heartbeats(clock)
        interval = notifier.watchdog_interval_s
        self._watchdog_every_s = interval / 2 if interval else None
        self._last_watchdog = self._last_status = float("-inf")
        self._stall_logged = False

    def status(self, text: str) -> None:
        """STATUS= now (start-up and shutdown phases)."""
        self._notifier.status(text)

    def ready(self) -> None:
        self._notifier.ready()
        self._notifier.status(self._describe())
        self.tick()

    def tick(self) -> None:
        """Call once per loop iteration: raises when a worker died; sends at most one ping
        per half watchdog interval, and none while a worker is stalled."""
        self._workers.raise_if_failed()
        now = self._clock()
        stalled = self._workers.stalled()
        if stalled:
            if not self._stall_logged:
                log.error(
                    "worker thread stalled: %s; watchdog pings stop, so systemd restarts the "
                    "service if it does not recover",
                    ", ".join(f"{name} {secs:.0f} s past its promise" for name, secs in stalled),
                )
                self._stall_logged = True
        elif self._stall_logged:
            log.warning("worker threads recovered; watchdog pings resume")
            self._stall_logged = False
        if (
            not stalled
            and self._watchdog_every_s is not None
            and now - self._last_watchdog >= self._watchdog_every_s
        ):
            self._notifier.watchdog()
            self._last_watchdog = now
        if now - self._last_status >= STATUS_INTERVAL_S:
            text = self._describe()
            if stalled:
                text = f"stalled: {', '.join(n for n, _ in stalled)} thread; {text}"
            self._notifier.status(text)
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
        camera = "" if snap.camera is None else f" camera={snap.camera.state}"
        return (
            f"fps={fps:.1f} windows={snap.windows} mqtt={mqtt} "
            f"unacked={self._delivery.unacked}{camera}"
        )
