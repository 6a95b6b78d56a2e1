"""Open and read deadlines for captures whose backend keeps none.

OpenCV's V4L2 backend ignores ``CAP_PROP_OPEN_TIMEOUT_MSEC`` and ``CAP_PROP_READ_TIMEOUT_MSEC``
(only the FFmpeg backend honours them, which RTSP and file sources use): a stalled USB camera
leaves ``read()`` waiting in ``select()`` for ``OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT`` seconds (10
by default) per attempt. :class:`DeadlineCapture` therefore opens and reads the capture on a
worker thread of its own and waits at most ``timeout_s``: a read that does not return in time
raises :class:`~edge.camera.base.CaptureError`, so the source counts the camera as lost and
reopens it, and the capture thread keeps its heartbeat promise. The stuck call cannot be
cancelled: it is abandoned, and its worker closes that capture and ends when the call returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from edge.camera.base import Capture, CaptureError
from edge.types import ImageArray

_Result = tuple[bool, "ImageArray | BaseException | None"]


class DeadlineCapture:
    """A :class:`~edge.camera.base.Capture` whose open and every read end within
    ``timeout_s``; ``opener`` builds the real capture (on the worker thread)."""

    def __init__(self, opener: Callable[[], Capture], *, timeout_s: float, name: str) -> None:
        self._timeout_s = timeout_s
        self._name = name
        self._lock = threading.Lock()
        self._abandoned = False
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[_Result] = queue.SimpleQueue()
        self._worker = threading.Thread(
            target=self._work, args=(opener,), name=f"capture-io-{name}", daemon=True
        )
        self._worker.start()
        self._await(f"cannot open {name}: no answer within {timeout_s:g} s")

    def read(self) -> ImageArray | None:
        if self._abandoned:
            raise CaptureError(f"{self._name} was abandoned after a stalled call")
        self._requests.put("read")
        result = self._await(
            f"no frame from {self._name} within {self._timeout_s:g} s (the read stalled; "
            "camera.read_timeout_s)"
        )
        assert not isinstance(result, BaseException)
        return result

    def close(self) -> None:
        """Close the capture (on its worker); an abandoned one closes when its call returns."""
        if not self._abandoned:
            self._requests.put("close")
            self._worker.join(self._timeout_s)

    def _await(self, stalled: str) -> ImageArray | None:
        try:
            ok, value = self._results.get(timeout=self._timeout_s)
        except queue.Empty:
            with self._lock:
                self._abandoned = True
            self._requests.put("close")  # in case the call returned just now
            raise CaptureError(stalled) from None
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        assert not isinstance(value, BaseException)
        return value

    def _work(self, opener: Callable[[], Capture]) -> None:
        """The worker: open, then one call per request; after a stalled call it only closes."""
        try:
            capture = opener()
        except BaseException as exc:  # handed to the waiting capture thread
            self._results.put((False, exc))
            return
        result: _Result = (True, None)
        while True:
            with self._lock:
                if self._abandoned:
                    break
            self._results.put(result)
            if self._requests.get() != "read":
                break
            try:
                result = (True, capture.read())
            except BaseException as exc:  # handed to the waiting capture thread
                result = (False, exc)
        capture.close()
