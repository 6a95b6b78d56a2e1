"""The picamera2 adapter against a fake of the picamera2 calls it makes: one YUV420 stream at
analysis size, stride padding cropped off every plane, a timeout on every wait."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import cv2
import numpy as np
import pytest

from edge.camera.base import CaptureError
from edge.camera.picam import I420ToRgb, Picamera2Capture, yuv420_planes
from edge.types import ImageArray

GARBAGE = 255  # what the ISP leaves in the padding columns


def padded_yuv420(rgb: ImageArray, stride: int) -> tuple[ImageArray, ImageArray]:
    """(picamera2-layout YUV420 array with ``stride``-wide rows and garbage padding, and the
    same image as a tight I420 array) for an RGB image."""
    height, width = rgb.shape[:2]
    tight = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420))
    quarter = (height // 2) * (width // 2)
    flat = tight.reshape(-1)
    y = tight[:height]
    u = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
    v = flat[height * width + quarter :].reshape(height // 2, width // 2)
    out = np.full((height * 3 // 2, stride), GARBAGE, np.uint8)
    out[:height, :width] = y
    chroma = out.reshape(-1)[height * stride :]
    planes = chroma.reshape(2, height // 2, stride // 2)
    planes[0, :, : width // 2] = u
    planes[1, :, : width // 2] = v
    return out, tight


class FakeRequest:
    def __init__(self, camera: FakePicamera2) -> None:
        self.camera = camera
        self.released = False

    def make_array(self, name: str) -> ImageArray:
        assert name == "main"
        return self.camera.buffer

    def release(self) -> None:
        self.released = True


class FakePicamera2:
    """The picamera2 API surface the adapter uses; frames in picamera2's YUV420 layout."""

    def __init__(self, rgb: ImageArray, stride: int, *, stall: bool = False) -> None:
        self.buffer, self.tight = padded_yuv420(rgb, stride)
        self.size = (rgb.shape[1], rgb.shape[0])
        self.stall = stall
        self.calls: list[str] = []
        self.configs: list[dict[str, Any]] = []
        self.timeouts: list[float | None] = []
        self.requests: list[FakeRequest] = []

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.configs.append(kwargs)
        return kwargs

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")

    def camera_configuration(self) -> dict[str, Any]:
        return {"main": {"size": self.size, "format": "YUV420", "stride": self.buffer.shape[1]}}

    def start(self) -> None:
        self.calls.append("start")

    def capture_request(self, wait: Any = None) -> Future[FakeRequest]:
        assert wait is False  # never an unbounded blocking capture
        job: Future[FakeRequest] = Future()
        if not self.stall:
            self.requests.append(FakeRequest(self))
            job.set_result(self.requests[-1])
        return job

    def wait(self, job: Future[FakeRequest], timeout: float | None = None) -> FakeRequest:
        self.timeouts.append(timeout)
        return job.result(timeout=timeout)

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def picture(width: int = 100, height: int = 60) -> ImageArray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_planes_crop_the_stride_padding() -> None:
    """With stride 128 for width 100 the Y, U and V views hold exactly the image's planes:
    no padding column is part of any plane."""
    rgb = picture()
    buffer, tight = padded_yuv420(rgb, stride=128)
    y, u, v = yuv420_planes(buffer, 100, 60)
    assert (y.shape, u.shape, v.shape) == ((60, 100), (30, 50), (30, 50))
    np.testing.assert_array_equal(y, tight[:60])
    np.testing.assert_array_equal(np.concatenate([u.ravel(), v.ravel()]), tight[60:].ravel())
    assert np.shares_memory(y, buffer)  # views, not copies


def test_capture_returns_the_rgb_frame_without_garbage_columns() -> None:
    """A frame read through the adapter equals the conversion of the tight I420 image (so
    masks and boxes land on the right pixels), and each request is released."""
    rgb = picture()
    camera = FakePicamera2(rgb, stride=128)
    capture = Picamera2Capture(width=100, height=60, fps=10, timeout_s=0.5, camera=lambda: camera)
    frame = capture.read()
    assert frame is not None and frame.shape == (60, 100, 3)
    np.testing.assert_array_equal(frame, cv2.cvtColor(camera.tight, cv2.COLOR_YUV2RGB_I420))
    assert capture.read() is not frame  # a fresh array per frame (the privacy filter writes)
    assert all(r.released for r in camera.requests)
    capture.close()
    assert camera.calls == ["configure", "start", "stop", "close"]


def test_one_stream_at_analysis_size() -> None:
    """Only the main stream is configured, in YUV420 at camera.width x camera.height: no
    full-size stream that nothing reads, no lores stream."""
    camera = FakePicamera2(picture(), stride=128)
    Picamera2Capture(width=100, height=60, fps=12, camera=lambda: camera)
    [config] = camera.configs
    assert config["main"] == {"size": (100, 60), "format": "YUV420"}
    assert config["lores"] is None and config["raw"] is None
    assert config["controls"] == {"FrameRate": 12}


def test_a_stalled_camera_times_out_as_a_capture_error() -> None:
    """Every wait for a frame has the configured timeout; a camera that delivers nothing
    raises CaptureError (the capture thread then reopens it) instead of hanging."""
    camera = FakePicamera2(picture(), stride=128, stall=True)
    capture = Picamera2Capture(width=100, height=60, fps=10, timeout_s=0.05, camera=lambda: camera)
    with pytest.raises(CaptureError, match=r"no frame within 0\.05 s"):
        capture.read()
    assert camera.timeouts == [0.05]


def test_a_buffer_of_the_wrong_shape_is_a_capture_error() -> None:
    """A YUV420 buffer whose rows do not match the configured height is refused clearly."""
    with pytest.raises(CaptureError, match="YUV420 buffer"):
        I420ToRgb(100, 60)(np.zeros((60, 128), np.uint8))
