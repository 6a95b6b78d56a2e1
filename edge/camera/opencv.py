"""OpenCV captures: V4L2/USB cameras, RTSP streams, video files, and folders of images."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from edge.camera.base import CaptureError
from edge.config.source import SourceSpec
from edge.types import ImageArray

log = logging.getLogger(__name__)

#: OpenCV's wait (whole seconds) for one V4L2 frame; the backend's default is 10.
V4L2_SELECT_TIMEOUT_ENV = "OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


class OpenCvCapture:
    """``cv2.VideoCapture`` on a device, an RTSP URL or a video file; frames returned as RGB.

    RTSP and files go through FFmpeg with ``timeout_s`` as its open and read timeouts; V4L2
    ignores both properties, so :func:`edge.camera.open_source` wraps it in
    :class:`edge.camera.deadline.DeadlineCapture`."""

    def __init__(
        self, spec: SourceSpec, *, width: int, height: int, fps: float, timeout_s: float
    ) -> None:
        self._spec = spec
        timeout_ms = int(timeout_s * 1000)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            timeout_ms,
        ]
        if spec.kind == "v4l2":
            # The V4L2 backend ignores the timeout properties; its select() waits this many
            # whole seconds (read once per process); the deadline itself is DeadlineCapture's.
            os.environ.setdefault(V4L2_SELECT_TIMEOUT_ENV, str(max(1, math.ceil(timeout_s))))
            target: str | int = int(spec.target) if spec.target.isdigit() else spec.target
            self._cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            self._cap.set(cv2.CAP_PROP_FPS, fps)
            self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            self._cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)
        if not self._cap.isOpened():
            from edge.camera.diagnose import open_failure_cause

            cause = open_failure_cause(spec, timeout_s)
            raise CaptureError(f"cannot open {spec.redacted()}: {cause}")
        self._live = spec.kind != "file"
        log.debug(
            "opened %s with OpenCV %s: %dx%d at %.3g fps",
            spec.redacted(), self._cap.getBackendName(),
            int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), self._cap.get(cv2.CAP_PROP_FPS),
        )  # fmt: skip

    @property
    def file_fps(self) -> float:
        """Frame rate a video file declares (0 if unknown)."""
        return float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self) -> ImageArray | None:
        ok, bgr = self._cap.read()
        if not ok:
            if self._live:
                raise CaptureError(f"no frame from {self._spec.redacted()}")
            return None
        rgb: ImageArray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return rgb

    def close(self) -> None:
        self._cap.release()


class ImageFolderCapture:
    """Every image in a folder, in name order, as one frame each."""

    def __init__(self, folder: Path) -> None:
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CaptureError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        self._next = 0

    def read(self) -> ImageArray | None:
        while self._next < len(self._files):
            path = self._files[self._next]
            self._next += 1
            data = np.fromfile(path, dtype=np.uint8)
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if bgr is not None:
                rgb: ImageArray = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
                return rgb
        return None

    def close(self) -> None:
        self._next = len(self._files)
