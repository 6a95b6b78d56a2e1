"""What the MQTT network thread runs besides paho: delayed calls and command-topic handlers,
each guarded so that a failing callback never stops the thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]


class Callbacks:
    """Timers (``call_later``) and topic handlers; thread-safe to register, run by one
    thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self.handlers: dict[str, Handler] = {}

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self._lock:
            self._timers.append((self._clock() + delay_s, fn))

    def run_due(self) -> None:
        now = self._clock()
        with self._lock:
            due = [fn for t, fn in self._timers if t <= now]
            self._timers = [(t, fn) for t, fn in self._timers if t > now]
        for fn in due:
            try:
                fn()
            except Exception:
                log.exception("timer callback failed")

    def dispatch(self, topic: str, payload: bytes) -> None:
        handler = self.handlers.get(topic)
        if handler is None:
            return
        try:
            handler(payload)
        except Exception:  # a bad command must never stop the network thread
            log.exception("handler for %s failed", topic)
