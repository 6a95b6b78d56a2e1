"""Raspberry Pi camera through picamera2 (libcamera): one YUV420 stream at analysis size.

A thin adapter, imported only when ``camera.source`` is ``picamera2``. picamera2 comes from
apt (``python3-picamera2``) into a venv made with ``--system-site-packages``; it is never a pip
dependency. Off a Pi it is exercised against a fake of the picamera2 calls it makes
(``tests/unit/camera/test_picam.py``).

- One stream, ``main``, at ``camera.width`` x ``camera.height`` in YUV420: no full-size stream
  is configured that nothing reads.
- picamera2 hands YUV420 out as one ``(height * 3 / 2) x stride`` array whose rows are
  ``stride`` bytes wide (padding to the ISP's alignment, e.g. 128 bytes for a 100 pixel
  width). :func:`yuv420_planes` crops the padding off the Y, U and V planes (views, no copy);
  the Y plane is the grey frame. The pipeline still takes RGB (the detector needs colour), made
  from the cropped planes at analysis size in one conversion (:class:`I420ToRgb`); the
  classifier greys only its 48x48 crops.
- Every wait has a timeout (``camera.read_timeout_s``): a stalled camera raises
  :class:`CaptureError` and the capture thread reopens it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.camera.base import CaptureError
from edge.types import ImageArray


def yuv420_planes(
    yuv: ImageArray, width: int, height: int
) -> tuple[ImageArray, ImageArray, ImageArray]:
    """The Y (height x width), U and V (height/2 x width/2) planes of a picamera2 YUV420
    array, padding cropped. Views into ``yuv``; nothing is copied."""
    rows, stride = yuv.shape
    if rows != height * 3 // 2 or stride < width:
        raise CaptureError(
            f"picamera2 returned a {stride}x{rows} YUV420 buffer for a {width}x{height} stream"
        )
    flat = yuv.reshape(-1)
    chroma = (height // 2) * (stride // 2)
    start = height * stride
    u = flat[start : start + chroma].reshape(height // 2, stride // 2)[:, : width // 2]
    v = flat[start + chroma : start + 2 * chroma].reshape(height // 2, stride // 2)
    return yuv[:height, :width], u, v[:, : width // 2]


class I420ToRgb:
    """Packs the cropped planes into one contiguous I420 buffer (kept) and converts it to a
    fresh RGB frame (the privacy filter may write into it; each frame is its own array)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._packed = np.zeros((height * 3 // 2, width), dtype=np.uint8)
        quarter = (height // 2) * (width // 2)
        flat = self._packed.reshape(-1)
        self._y = self._packed[:height]
        self._u = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
        self._v = flat[height * width + quarter :].reshape(height // 2, width // 2)

    def __call__(self, yuv: ImageArray) -> ImageArray:
        y, u, v = yuv420_planes(yuv, self.width, self.height)
        np.copyto(self._y, y)
        np.copyto(self._u, u)
        np.copyto(self._v, v)
        rgb: ImageArray = np.asarray(cv2.cvtColor(self._packed, cv2.COLOR_YUV2RGB_I420))
        return rgb


def _picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise CaptureError(
            f"picamera2 is not importable ({exc}); on Raspberry Pi OS install it with "
            "`sudo apt install python3-picamera2` and create the venv with "
            "--system-site-packages"
        ) from None
    return Picamera2()


class Picamera2Capture:
    """RGB frames at analysis size from the camera's one YUV420 stream."""

    def __init__(
        self,
        *,
        width: int,
        height: int,
        fps: float,
        timeout_s: float = 5.0,
        camera: Callable[[], Any] = _picamera2,
    ) -> None:
        self._timeout_s = timeout_s
        self._cam: Any = camera()
        try:
            config = self._cam.create_video_configuration(
                main={"size": (width - width % 2, height - height % 2), "format": "YUV420"},
                lores=None,
                raw=None,
                controls={"FrameRate": fps},
                buffer_count=4,
            )
            self._cam.configure(config)
            # libcamera may align the size; the planes are cropped to what it configured
            size = self._cam.camera_configuration()["main"]["size"]
            self._convert = I420ToRgb(int(size[0]), int(size[1]))
            self._cam.start()
        except Exception as exc:  # libcamera raises many types; all mean "camera unusable"
            self._close_quietly()
            raise CaptureError(f"picamera2 failed to start: {exc}") from None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames, as libcamera configured them."""
        return self._convert.width, self._convert.height

    def read(self) -> ImageArray | None:
        try:
            job = self._cam.capture_request(wait=False)
            request = self._cam.wait(job, timeout=self._timeout_s)
        except Exception as exc:  # TimeoutError, libcamera errors, OSError: camera lost
            raise CaptureError(
                f"picamera2 gave no frame within {self._timeout_s:g} s: {exc!r}"
            ) from None
        try:
            return self._convert(request.make_array("main"))
        finally:
            request.release()

    def close(self) -> None:
        self._close_quietly()

    def _close_quietly(self) -> None:
        for step in ("stop", "close"):
            with contextlib.suppress(Exception):
                getattr(self._cam, step)()
