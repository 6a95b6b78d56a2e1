"""A capture thread that keeps only the newest frame, and reopens lost cameras with backoff.

Each source kind implements the small :class:`Capture` protocol (open, read one frame,
close). :class:`LatestFrameSource` runs it in its own thread: the consumer always gets the
newest frame, older unread frames are dropped and counted, so slow inference never makes the
pipeline lag behind the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from edge.types import Frame, ImageArray

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


class LatestFrameSource:
    """Threaded frame source: ``read`` returns the newest frame not yet returned.

    ``opener`` builds a :class:`Capture`; it is called again after a failure, with exponential
    backoff from ``reopen_initial_s`` up to ``reopen_max_s``. ``pace_fps`` paces file sources
    to real time (None for live cameras, which pace themselves). With ``loop`` a file restarts
    at its end; without it the source ends and :attr:`ended` becomes true.
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._opener = opener
        self._name = name
        self._reopen_initial_s = reopen_initial_s
        self._reopen_max_s = reopen_max_s
        self._pace_fps = pace_fps
        self._loop = loop
        self._clock = clock
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._captured = self._delivered = self._dropped = self._reopens = 0
        self._state = "closed"

    # -- consumer side -----------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """True once a non-looping file has been read to its end and its last frame taken."""
        with self._cond:
            return self._ended.is_set() and self._latest is None

    @property
    def stats(self) -> SourceStats:
        with self._cond:
            return SourceStats(self._captured, self._delivered, self._dropped, self._reopens)

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
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("capture thread %s did not stop within %.1f s", self._name, timeout_s)

    # -- capture thread ------------------------------------------------------------------
    def _set_state(self, state: str, detail: str = "") -> None:
        if state != self._state:
            self._state = state
            log.log(
                logging.WARNING if state == "lost" else logging.INFO,
                "camera %s %s%s",
                self._name,
                state,
                f": {detail}" if detail else "",
            )

    def _publish(self, image: ImageArray, index: int) -> None:
        with self._cond:
            if self._latest is not None:
                self._dropped += 1
            self._latest = Frame(image=image, t_s=self._clock(), index=index)
            self._captured += 1
            self._cond.notify_all()

    def _run(self) -> None:
        backoff = self._reopen_initial_s
        index = 0
        while not self._stop.is_set():
            try:
                capture = self._opener()
            except CaptureError as exc:
                self._set_state("lost", str(exc))
                self._reopens += 1
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._reopen_max_s)
                continue
            self._set_state("open")
            backoff = self._reopen_initial_s
            try:
                index, finished = self._pump(capture, index)
            except CaptureError as exc:
                self._set_state("lost", str(exc))
                finished = False
            finally:
                capture.close()
            if finished and not self._loop:
                self._set_state("ended")
                with self._cond:
                    self._ended.set()
                    self._cond.notify_all()
                return
            if not finished and not self._stop.is_set():
                self._reopens += 1
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._reopen_max_s)

    def _pump(self, capture: Capture, index: int) -> tuple[int, bool]:
        """Read frames until stop, end of file (True) or failure (raises CaptureError)."""
        start = self._clock()
        count = 0
        while not self._stop.is_set():
            image = capture.read()
            if image is None:
                return index, True
            if self._pace_fps:
                delay = start + count / self._pace_fps - self._clock()
                if delay > 0 and self._stop.wait(delay):
                    break
            count += 1
            self._publish(image, index)
            index += 1
        return index, False
