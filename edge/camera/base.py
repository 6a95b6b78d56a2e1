"""A capture thread that keeps only the newest frame, and reopens lost cameras with backoff.

Each source kind implements the small :class:`Capture` protocol (open, read one frame,
close). :class:`LatestFrameSource` runs it in its own thread: the consumer always gets the
newest frame, older unread frames are dropped and counted, so slow inference never makes the
pipeline lag behind the camera.

The thread reports to the service's health (:class:`edge.types.Liveness`): a beat before
every blocking step with the longest it may take, and an unexpected exception (logged with
its traceback) that ends it. Its state (opening / ok / lost / paused / ended, since when,
reopen attempts) is :attr:`LatestFrameSource.status`. The remote pause is owned by the
``gate`` (the service's :class:`edge.service.pause.AnalysisSwitch`): the thread asks it before
every frame and is woken by its change notice; while it is off the camera is closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from edge.types import (
    AnalysisGate,
    CameraState,
    CameraStatus,
    Frame,
    ImageArray,
    Liveness,
    NoLiveness,
    Toggle,
)

log = logging.getLogger(__name__)


class CaptureError(RuntimeError):
    """The camera or stream could not be opened or stopped delivering frames."""


class Capture(Protocol):
    """One opened camera, stream or file. ``read`` blocks for at most the source's timeout."""

    def read(self) -> ImageArray | None:
        """The next RGB frame, or ``None`` at the end of a file."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters since the source was opened."""

    captured: int
    delivered: int
    dropped: int
    reopens: int
    camera: CameraStatus


class LatestFrameSource:
    """Threaded frame source: ``read`` returns the newest frame not yet returned.

    ``opener`` builds a :class:`Capture`; it is called again after a failure, with exponential
    backoff from ``reopen_initial_s`` up to ``reopen_max_s``. ``pace_fps`` paces file sources
    to real time (None for live cameras, which pace themselves). With ``loop`` a file restarts
    at its end; without it the source ends and :attr:`ended` becomes true. ``read_timeout_s``
    is the longest one ``Capture.read`` may block (it bounds the heartbeat's promise).
    ``gate`` owns the remote pause (default: an own :class:`~edge.types.Toggle`, switched by
    :meth:`pause` and :meth:`resume`).
    """

    def __init__(
        self,
        opener: Callable[[], Capture],
        *,
        name: str,
        reopen_initial_s: float,
        reopen_max_s: float,
        pace_fps: float | None = None,
        loop: bool = False,
        read_timeout_s: float = 5.0,
        liveness: Liveness | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        gate: AnalysisGate | None = None,
    ) -> None:
        self._opener = opener
        self._name = name
        self._reopen_initial_s = reopen_initial_s
        self._reopen_max_s = reopen_max_s
        self._pace_fps = pace_fps
        self._loop = loop
        self._clock = clock
        self._wall = wall
        self._read_timeout_s = read_timeout_s
        self._liveness: Liveness = liveness or NoLiveness()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._toggle: Toggle | None = None
        if gate is None:
            gate = self._toggle = Toggle()
        self._gate = gate
        self._wake = threading.Event()  # set on a change of the gate and on close
        self._gate.subscribe(self._gate_changed)
        self._first_attempt = threading.Event()
        self._thread: threading.Thread | None = None
        self._captured = self._delivered = self._dropped = self._reopens = 0
        self._state: CameraState = "opening"
        self._since_s = wall()

    # -- consumer side -----------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """True once a non-looping file has been read to its end and its last frame taken."""
        with self._cond:
            return self._ended.is_set() and self._latest is None

    @property
    def status(self) -> CameraStatus:
        with self._cond:
            return CameraStatus(self._state, self._since_s, self._reopens)

    @property
    def stats(self) -> SourceStats:
        with self._cond:
            return SourceStats(
                self._captured,
                self._delivered,
                self._dropped,
                self._reopens,
                CameraStatus(self._state, self._since_s, self._reopens),
            )

    def wait_first_attempt(self, timeout_s: float) -> bool:
        """Block until the first open attempt finished (a frame arrived, or it failed)."""
        return self._first_attempt.wait(timeout_s)

    def pause(self) -> None:
        """Close the camera and capture nothing until :meth:`resume` (a source without a
        gate of its own; with one, its owner pauses)."""
        self._own_toggle().set(False)

    def resume(self) -> None:
        self._own_toggle().set(True)

    def _own_toggle(self) -> Toggle:
        if self._toggle is None:
            raise RuntimeError("this source follows its gate: switch the gate, not the source")
        return self._toggle

    @property
    def paused(self) -> bool:
        return not self._gate.enabled

    def _gate_changed(self, enabled: bool) -> None:
        """The gate's change notice (any thread): a frame captured before a pause is never
        handed out; the capture thread wakes at once."""
        if not enabled:
            with self._cond:
                self._latest = None
                self._cond.notify_all()
        self._wake.set()

    def read(self, timeout_s: float) -> Frame | None:
        """The newest unread frame, waiting at most ``timeout_s``; None if none arrived."""
        with self._cond:
            if self._latest is None and not self._ended.is_set():
                self._cond.wait(timeout_s)
            frame, self._latest = self._latest, None
            if frame is not None:
                self._delivered += 1
            return frame

    def __enter__(self) -> LatestFrameSource:
        self._thread = threading.Thread(target=self._run, name=f"capture-{self._name}", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()  # wake a paused thread so that it can end
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("capture thread %s did not stop within %.1f s", self._name, timeout_s)

    # -- capture thread ------------------------------------------------------------------
    def _set_state(self, state: CameraState, detail: str = "") -> None:
        with self._cond:
            if state == self._state:
                return
            self._state = state
            self._since_s = self._wall()
        if state in ("ok", "lost", "paused", "ended"):  # paused: closed on purpose, no attempt
            self._first_attempt.set()
        log.log(
            logging.WARNING if state == "lost" else logging.INFO,
            "camera %s %s%s",
            self._name,
            state,
            f": {detail}" if detail else "",
        )

    def _publish(self, image: ImageArray, index: int) -> None:
        with self._cond:
            if not self._gate.enabled:
                return  # paused meanwhile: nothing is handed out while paused
            if self._latest is not None:
                self._dropped += 1
            self._latest = Frame(image=image, t_s=self._clock(), index=index)
            self._captured += 1
            self._cond.notify_all()
        if self._state != "ok":
            self._set_state("ok")

    def _run(self) -> None:
        """The thread: any exception other than a lost camera ends it, logged with its
        traceback and reported to the service's health, which stops the service."""
        try:
            self._capture_loop()
        except Exception as exc:
            log.exception("capture thread %s died", self._name)
            self._liveness.failed(exc)
        else:
            self._liveness.done()

    def _wait(self, delay_s: float) -> None:
        self._liveness.beat(delay_s)
        self._stop.wait(delay_s)

    def _lost(self, detail: str) -> None:
        self._set_state("lost", detail)
        with self._cond:
            self._reopens += 1

    def _idle_while_paused(self) -> None:
        self._set_state("paused")
        while not self._stop.is_set():
            self._wake.clear()
            if self._gate.enabled:
                break
            self._liveness.beat(1.0)
            self._wake.wait(1.0)
        if not self._stop.is_set():
            self._set_state("opening")

    def _capture_loop(self) -> None:
        backoff = self._reopen_initial_s
        index = 0
        while not self._stop.is_set():
            if not self._gate.enabled:
                self._idle_while_paused()
                continue
            self._liveness.beat(self._read_timeout_s)
            try:
                capture = self._opener()
            except CaptureError as exc:
                self._lost(str(exc))
                self._wait(backoff)
                backoff = min(backoff * 2, self._reopen_max_s)
                continue
            first = index
            failure: str | None = None
            try:
                index, finished = self._pump(capture, index)
            except CaptureError as exc:
                failure, finished = str(exc), False
            finally:
                capture.close()
            if index > first:
                backoff = self._reopen_initial_s  # it delivered: this failure is a fresh one
            if finished and not self._loop:
                self._set_state("ended")
                with self._cond:
                    self._ended.set()
                    self._cond.notify_all()
                return
            if failure is not None and not self._stop.is_set():
                self._lost(failure)
                self._wait(backoff)
                backoff = min(backoff * 2, self._reopen_max_s)

    def _pump(self, capture: Capture, index: int) -> tuple[int, bool]:
        """Read frames until stop, pause, end of file (True) or failure (raises
        CaptureError)."""
        start = self._clock()
        count = 0
        while not self._stop.is_set() and self._gate.enabled:
            self._liveness.beat(self._read_timeout_s)
            image = capture.read()
            if image is None:
                return index, True
            if self._pace_fps:
                delay = start + count / self._pace_fps - self._clock()
                if delay > 0:
                    self._liveness.beat(delay)
                    if self._stop.wait(delay):
                        break
            count += 1
            self._publish(image, index)
            index += 1
        return index, False
