"""A capture whose read stalls in the kernel (as a hung V4L2 camera does in OpenCV's select())
is counted as lost and reopened within camera.read_timeout_s, instead of stopping the
capture thread and with it the watchdog."""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Callable

import numpy as np
import pytest

from edge.camera import open_source
from edge.camera.base import Capture, CaptureError, LatestFrameSource
from edge.camera.deadline import DeadlineCapture
from edge.config import CameraConfig
from edge.service.health import Heartbeats
from edge.types import ImageArray
from tests.waiting import wait_until

SHAPE = (8, 8, 3)
FRAME_BYTES = int(np.prod(SHAPE))


class PipeCapture:
    """Raw RGB frames read with a blocking ``os.read`` from a real OS pipe: when the writer
    stops writing, ``read`` blocks in the kernel, like a stalled camera."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self) -> ImageArray | None:
        data = b""
        while len(data) < FRAME_BYTES:
            chunk = os.read(self._fd, FRAME_BYTES - len(data))
            if not chunk:
                raise CaptureError("pipe closed")
            data += chunk
        return np.frombuffer(data, np.uint8).reshape(SHAPE).copy()

    def close(self) -> None:
        os.close(self._fd)


class Camera:
    """Opens a new pipe per open; the first one delivers ``first`` frames and then stalls
    (its writer keeps the pipe open but writes nothing), later ones deliver frames until
    :meth:`stop`."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.opened = 0
        self.stop_event = threading.Event()
        self.writers: list[int] = []
        self.threads: list[threading.Thread] = []

    def open(self) -> Capture:
        read_fd, write_fd = os.pipe()
        self.writers.append(write_fd)
        frames = self.first if self.opened == 0 else None
        self.opened += 1
        thread = threading.Thread(target=self._write, args=(write_fd, frames), daemon=True)
        thread.start()
        self.threads.append(thread)
        return PipeCapture(read_fd)

    def _write(self, fd: int, frames: int | None) -> None:
        sent = 0
        while not self.stop_event.is_set() and (frames is None or sent < frames):
            try:
                os.write(fd, bytes([sent % 256]) * FRAME_BYTES)
            except OSError:
                return
            sent += 1
            self.stop_event.wait(0.02)

    def stop(self) -> None:
        """Stop writing and close every write end: any read still blocked returns."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(5)
        for fd in self.writers:
            os.close(fd)


def _wait_for(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    wait_until(predicate, timeout_s, interval_s=0.01)


def test_a_stalled_read_marks_the_camera_lost_and_reopens_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first pipe delivers 3 frames and then blocks in os.read: within the read timeout
    the camera is 'lost' (a stalled read, logged once), reopened, and frames flow again from
    the new pipe; the capture thread never fails, and the abandoned read's worker closes its
    pipe and ends once the blocked read returns."""
    camera = Camera(first=3)
    workers = Heartbeats()
    beat = workers.new("capture")
    source = LatestFrameSource(
        lambda: DeadlineCapture(camera.open, timeout_s=0.3, name="pipe"),
        name="pipe",
        reopen_initial_s=0.01,
        reopen_max_s=0.05,
        read_timeout_s=0.3,
        liveness=beat,
    )
    try:
        with caplog.at_level(logging.WARNING, logger="edge.camera.base"), source:
            _wait_for(lambda: camera.opened >= 2 and source.stats.captured > 6)
            assert source.status.state == "ok"
            assert beat.failure is None
    finally:
        camera.stop()
    lost = [r.getMessage() for r in caplog.records if " lost" in r.getMessage()]
    assert len(lost) == 1 and "the read stalled" in lost[0], lost
    _wait_for(lambda: not any(t.name == "capture-io-pipe" for t in threading.enumerate()))


def test_a_stalled_open_is_a_lost_camera_too() -> None:
    """An open that does not return within the timeout raises CaptureError naming the
    source (the source then retries with backoff)."""
    release = threading.Event()

    def hanging_open() -> Capture:
        release.wait(10)
        raise CaptureError("gone")

    try:
        with pytest.raises(CaptureError, match=r"cannot open cam: no answer within 0\.2 s"):
            DeadlineCapture(hanging_open, timeout_s=0.2, name="cam")
    finally:
        release.set()


def test_v4l2_sources_get_the_read_deadline() -> None:
    """A v4l2 source's opener goes through DeadlineCapture (OpenCV's V4L2 backend keeps no
    timeout of its own): a device that does not exist is a CaptureError from it, in time."""
    source = open_source(CameraConfig(source="v4l2:/dev/video-does-not-exist", read_timeout_s=2))
    with pytest.raises(CaptureError, match="cannot open v4l2:/dev/video-does-not-exist") as err:
        source._opener()
    assert any(f.filename.endswith("deadline.py") for f in traceback.extract_tb(err.tb))
