"""LatestFrameSource: newest frame only, drops counted, reopen with backoff, end of file."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera import open_source
from edge.camera.base import Capture, CaptureError, LatestFrameSource
from edge.camera.opencv import ImageFolderCapture
from edge.config import CameraConfig
from edge.types import ImageArray

SAMPLE = Path(__file__).resolve().parents[3] / "edge" / "data" / "sample.mp4"


def img(value: int) -> ImageArray:
    return np.full((4, 4, 3), value, np.uint8)


class ListCapture:
    """A capture that returns prepared frames, then end-of-file (a fake of our own Protocol)."""

    def __init__(self, values: list[int], gate: threading.Event | None = None) -> None:
        self.values = list(values)
        self.gate = gate
        self.closed = False

    def read(self) -> ImageArray | None:
        if self.gate is not None:
            self.gate.wait(5)
        return img(self.values.pop(0)) if self.values else None

    def close(self) -> None:
        self.closed = True


def test_consumer_gets_newest_frame_and_drops_are_counted() -> None:
    """A slow consumer gets the newest frame; frames it never saw are counted as dropped."""
    cap = ListCapture(list(range(10)))
    with LatestFrameSource(lambda: cap, name="t", reopen_initial_s=0.01, reopen_max_s=0.01) as src:
        deadline = 50
        while not src._ended.is_set() and deadline:  # wait for the file to be read to its end
            src._ended.wait(0.1)
            deadline -= 1
        frame = src.read(1.0)
        assert frame is not None
        assert int(frame.image[0, 0, 0]) == 9
        assert frame.index == 9
        assert src.read(0.05) is None
        assert src.ended
        stats = src.stats
    assert (stats.captured, stats.delivered, stats.dropped) == (10, 1, 9)
    assert cap.closed


def test_lost_camera_is_reopened_with_backoff() -> None:
    """Failures to open and mid-stream errors lead to reopening, counted in stats."""
    attempts: list[int] = []

    class Failing:
        def read(self) -> ImageArray | None:
            raise CaptureError("unplugged")

        def close(self) -> None:
            pass

    good = ListCapture([1, 2, 3], gate=None)

    def opener() -> Capture:
        attempts.append(1)
        if len(attempts) == 1:
            raise CaptureError("no device")
        if len(attempts) == 2:
            return Failing()
        return good

    with LatestFrameSource(opener, name="t", reopen_initial_s=0.01, reopen_max_s=0.02) as src:
        frames = []
        for _ in range(100):
            f = src.read(0.1)
            if f is not None:
                frames.append(f)
            if src.ended:
                break
        assert src.ended
    assert len(attempts) == 3
    assert src.stats.reopens == 2
    assert frames


def test_loop_replays_file() -> None:
    """With loop, a file that ends is opened again."""
    opened: list[int] = []

    def opener() -> Capture:
        opened.append(1)
        return ListCapture([1])

    with LatestFrameSource(
        opener, name="t", reopen_initial_s=0.01, reopen_max_s=0.01, loop=True
    ) as src:
        for _ in range(100):
            src.read(0.05)
            if len(opened) >= 3:
                break
    assert len(opened) >= 3


def test_close_stops_a_blocked_reader_quickly() -> None:
    """read() returns after its timeout even when no frame ever comes."""
    gate = threading.Event()
    with LatestFrameSource(
        lambda: ListCapture([1], gate), name="t", reopen_initial_s=0.01, reopen_max_s=0.01
    ) as src:
        assert src.read(0.05) is None
        gate.set()


def test_image_folder(tmp_path: Path) -> None:
    """A folder of images yields each readable image in name order, skipping others."""
    for name, value in (("b.png", 20), ("a.png", 10)):
        cv2.imwrite(str(tmp_path / name), img(value))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "c.jpg").write_bytes(b"broken")
    cap = ImageFolderCapture(tmp_path)
    first, second = cap.read(), cap.read()
    assert first is not None and second is not None
    assert (int(first[0, 0, 0]), int(second[0, 0, 0])) == (10, 20)
    assert cap.read() is None


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    """A folder without images is a CaptureError that lists the accepted suffixes."""
    with pytest.raises(CaptureError, match=r"\.jpg"):
        ImageFolderCapture(tmp_path)


def test_missing_file_source(tmp_path: Path) -> None:
    """A file: source that does not exist is reported with its path."""
    with pytest.raises(CaptureError, match="does not exist"):
        open_source(CameraConfig(source=f"file:{tmp_path}/nope.mp4"))


def test_video_file_frames_are_rgb_and_paced() -> None:
    """The bundled clip plays through OpenCV as RGB frames of its own size."""
    src = open_source(CameraConfig(source=f"file:{SAMPLE}"))
    with src:
        frame = src.read(2.0)
    assert frame is not None
    assert frame.image.shape == (360, 640, 3)
    assert frame.image.dtype == np.uint8
