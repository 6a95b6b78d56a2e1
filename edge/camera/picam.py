"""Raspberry Pi camera through picamera2 (libcamera): main + lores YUV420, inference on lores.

A thin adapter, imported only when ``camera.source`` is ``picamera2``. picamera2 comes from
apt (``python3-picamera2``) into a venv made with ``--system-site-packages``; it is never a pip
dependency. This module cannot run off a Pi: it is exercised on hardware only (see README).
"""

from __future__ import annotations

from typing import Any

import cv2

from edge.camera.base import CaptureError
from edge.types import ImageArray


class Picamera2Capture:
    """Frames from the lores stream, converted from YUV420 (I420) to RGB."""

    def __init__(self, *, width: int, height: int, fps: float) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CaptureError(
                f"picamera2 is not importable ({exc}); on Raspberry Pi OS install it with "
                "`sudo apt install python3-picamera2` and create the venv with "
                "--system-site-packages"
            ) from None
        try:
            self._cam: Any = Picamera2()
            # lores must be no larger than main; YUV420 width must be even
            config = self._cam.create_video_configuration(
                main={"size": (width * 2, height * 2), "format": "YUV420"},
                lores={"size": (width - width % 2, height - height % 2), "format": "YUV420"},
                controls={"FrameRate": fps},
                buffer_count=4,
            )
            self._cam.configure(config)
            self._cam.start()
        except Exception as exc:  # libcamera raises many types; all mean "camera unusable"
            raise CaptureError(f"picamera2 failed to start: {exc}") from None

    def read(self) -> ImageArray | None:
        try:
            with self._cam.captured_request() as request:
                yuv = request.make_array("lores")
        except Exception as exc:  # a lost camera surfaces as libcamera/OSError/RuntimeError
            raise CaptureError(f"picamera2 capture failed: {exc}") from None
        rgb: ImageArray = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
        return rgb

    def close(self) -> None:
        try:
            self._cam.stop()
            self._cam.close()
        except Exception:
            pass
