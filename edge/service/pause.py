"""Remote pause: ``{prefix}/{id}/analysis/set`` with ``ON``/``OFF``, persisted in the state dir.

The switch is the one owner of the state: the pipeline asks it before each frame (see
:meth:`edge.pipeline.Pipeline.set_gate`), the camera source and the retained state topic are
told of each change (:meth:`AnalysisSwitch.subscribe`). While analysis is off no frame is
analysed, no window is published and the camera is closed. The state survives restarts in
``<state_dir>/analysis`` and is published retained on ``{prefix}/{id}/analysis/state``. Any
other payload is ignored with a warning at most once per ``WARN_EVERY_S`` (with a count of
the others), so a flood of bad commands can neither crash the service nor the journal.

The state changes at most once per ``MIN_TOGGLE_S``: a command within that time of the last
change is held and the latest held one is applied when the interval is over (a flood of
toggles gives one change, one state-file write, one retained publish and one log line per
``MIN_TOGGLE_S`` at most, and one warning per ``WARN_EVERY_S`` that commands were coalesced).
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
#: Shortest time between two changes of the switch; faster commands are coalesced (the
#: latest wins). Every stretch of analysis (and of pause) lasts at least this long.
MIN_TOGGLE_S = 2.0


def shortest_partial_s(window_s: float) -> float:
    """A pause holds (does not publish) an open window that covered less than this: the
    switch's minimum interval, for windows longer than twice it; 0 (publish every window a
    pause cuts, as before) for windows that short anyway."""
    return MIN_TOGGLE_S if window_s > 2 * MIN_TOGGLE_S else 0.0


#: ``schedule(delay_s, fn)``: run ``fn`` after ``delay_s`` (the MQTT thread's call_later).
Schedule = Callable[[float, Callable[[], None]], None]


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
        schedule: Schedule | None = None,
    ) -> None:
        """``schedule`` runs held commands later; without it (tests, tools) every command
        applies at once."""
        self._path = path
        self._clock = clock
        self._schedule = schedule
        self._changed_at = float("-inf")
        self._held: bool | None = None  # the latest command within MIN_TOGGLE_S of a change
        self._coalesced = RateLimitedWarning(WARN_EVERY_S, clock)
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
            self._changed_at = self._clock()
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
        self.request(command)

    def request(self, enabled: bool) -> None:
        """A command: applied now, or held until ``MIN_TOGGLE_S`` after the last change (a
        later command replaces a held one)."""
        with self._lock:
            wait_s = self._changed_at + MIN_TOGGLE_S - self._clock()
            # while one is held (its timer may be due but not yet run) the latest joins it
            hold = self._schedule is not None and (wait_s > 0 or self._held is not None)
            first_held = hold and self._held is None
            if hold:
                self._held = enabled
        if not hold:
            self.set(enabled)
            return
        self._coalesced.warn(
            "analysis commands arrive faster than one per %.0f s: coalesced, the latest wins",
            MIN_TOGGLE_S,
        )
        if first_held and self._schedule is not None:
            self._schedule(wait_s, self._apply_held)

    def _apply_held(self) -> None:
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            self.set(held)
