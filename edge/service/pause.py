"""Remote pause: ``{prefix}/{id}/analysis/set`` with ``ON``/``OFF``, persisted in the state dir.

The switch is the one owner of the state: the pipeline asks it before each frame (see
:meth:`edge.pipeline.Pipeline.set_gate`), the camera source and the retained state topic are
told of each change (:meth:`AnalysisSwitch.subscribe`). While analysis is off no frame is
analysed, no window is published and the camera is closed. The state survives restarts in
``<state_dir>/analysis`` and is published retained on ``{prefix}/{id}/analysis/state``. Any
other payload is ignored with a warning at most once per ``WARN_EVERY_S`` (with a count of
the others), so a flood of bad commands can neither crash the service nor the journal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.publish.control import ANALYSIS_OFF, ANALYSIS_ON, parse_switch
from edge.service.state import write_atomic

log = logging.getLogger(__name__)

#: At most one warning about ignored commands per this many seconds.
WARN_EVERY_S = 60.0


class RateLimitedWarning:
    """Logs the first event, then at most one line per ``every_s`` with a count. Pure timing:
    the clock is injected."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last = float("-inf")
        self.suppressed = 0

    def warn(self, message: str, *args: object) -> bool:
        now = self._clock()
        if now - self._last < self._every_s:
            self.suppressed += 1
            return False
        if self.suppressed:
            message += f" ({self.suppressed} more ignored since the last warning)"
        log.warning(message, *args)
        self._last, self.suppressed = now, 0
        return True


class AnalysisSwitch:
    """The persisted on/off switch (an :class:`edge.types.AnalysisGate`); each listener
    (``on_change`` and those of :meth:`subscribe`) runs after each change, in the thread
    that made it."""

    def __init__(
        self,
        path: Path,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._listeners: list[Callable[[bool], None]] = []
        if on_change is not None:
            self._listeners.append(on_change)
        self._lock = threading.Lock()
        self._warning = RateLimitedWarning(WARN_EVERY_S, clock)
        self._enabled = self._read()

    def _read(self) -> bool:
        try:
            text = self._path.read_text(encoding="ascii").strip().upper()
        except FileNotFoundError:
            return True
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s (%s): analysis stays on", self._path, exc)
            return True
        if text not in (ANALYSIS_ON, ANALYSIS_OFF):
            log.warning("%s holds %r, not ON/OFF: analysis stays on", self._path, text[:10])
            return True
        if text == ANALYSIS_OFF:
            log.info("analysis is paused (remote command before the restart)")
        return text == ANALYSIS_ON

    @property
    def enabled(self) -> bool:
        return self._enabled

    def subscribe(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(enabled)`` after every change."""
        with self._lock:
            self._listeners.append(listener)

    def set(self, enabled: bool) -> bool:
        """Switch and persist; returns whether the state changed."""
        with self._lock:
            if enabled == self._enabled:
                return False
            write_atomic(self._path, (ANALYSIS_ON if enabled else ANALYSIS_OFF).encode() + b"\n")
            self._enabled = enabled
            listeners = list(self._listeners)
        log.info("analysis switched %s by remote command", "on" if enabled else "off")
        for listener in listeners:
            listener(enabled)
        return True

    def handle(self, payload: bytes) -> None:
        """One message from the command topic: ON/OFF switch, anything else is ignored."""
        command = parse_switch(payload)
        if command is None:
            self._warning.warn("ignored analysis command %r: send ON or OFF", payload[:32])
            return
        self.set(command)
