"""Privacy filter on the frame and on detections: masks, region of interest, minimum face size.

Order of operations for every frame (see :class:`edge.app.Pipeline`):

1. :meth:`PrivacyFilter.prepare` blacks out ``privacy.masks`` *before detection*, so no model
   ever sees those pixels. The mask is rasterised once per frame size (``cv2.fillPoly`` on a
   boolean array) and applied with one ``np.copyto``; nothing is allocated per frame. The
   frame is modified in place: every source hands out a fresh array per frame (the capture
   thread converts each camera buffer with ``cv2.cvtColor``, which allocates), so the camera's
   own buffers are never touched. A read-only array is copied first.
2. :meth:`PrivacyFilter.admits` is the detection filter the analyzer applies *before
   classification*: a face whose box is smaller than ``privacy.min_face_px`` on its shorter
   side, or whose box centre lies outside ``privacy.roi``, is dropped. Its expression is never
   estimated and it never reaches the tracker, so it is not counted in any window.

Pure apart from the cached geometry: no I/O, no clock. Pixel regions are in pixels of the frame
the analyzer sees (``camera.width`` x ``camera.height`` for cameras; a file's own size).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge.config import PrivacyConfig
from edge.config.privacy import Region
from edge.types import Detection, ImageArray

log = logging.getLogger(__name__)

BoolArray = npt.NDArray[np.bool_]


def _vertices(region: Region, width: int, height: int) -> npt.NDArray[np.int32]:
    points = np.asarray(region.in_pixels(width, height), dtype=np.float64)
    return np.round(points).astype(np.int32).reshape(-1, 1, 2)


def _outside(region: Region, width: int, height: int) -> bool:
    """True when a pixel region reaches beyond a ``width`` x ``height`` frame."""
    return any(x > width or y > height for x, y in region.in_pixels(width, height))


def build_mask(regions: Sequence[Region], width: int, height: int) -> BoolArray | None:
    """``height x width x 1`` booleans, True where a region covers the pixel; None if none."""
    if not regions:
        return None
    canvas = np.zeros((height, width), dtype=np.uint8)
    for region in regions:
        cv2.fillPoly(canvas, [_vertices(region, width, height)], 255)
    return (canvas > 0)[:, :, np.newaxis]


class PrivacyFilter:
    """Applies ``privacy.masks``, ``privacy.roi`` and ``privacy.min_face_px``."""

    def __init__(self, config: PrivacyConfig) -> None:
        self._masks = config.masks
        self._roi = config.roi
        self._min_face_px = float(config.min_face_px)
        self._size: tuple[int, int] | None = None
        self._blocked: BoolArray | None = None
        self._roi_contour: npt.NDArray[np.float32] | None = None

    @property
    def masked_fraction(self) -> float | None:
        """Share of the frame blacked out (for the last frame size seen); None before."""
        if self._size is None:
            return None
        return 0.0 if self._blocked is None else float(self._blocked.mean())

    def _build(self, width: int, height: int) -> None:
        self._size = (width, height)
        self._blocked = build_mask(self._masks, width, height)
        self._roi_contour = None
        if self._roi is not None:
            roi = np.asarray(self._roi.in_pixels(width, height), dtype=np.float32)
            self._roi_contour = roi.reshape(-1, 1, 2)
        for name, region in [*(("mask", m) for m in self._masks), ("roi", self._roi)]:
            if region is not None and _outside(region, width, height):
                log.warning(
                    "privacy.%s: a pixel region reaches beyond the %dx%d frame; only its part "
                    "inside the frame applies (check camera.width/height)",
                    name,
                    width,
                    height,
                )
        log.info(
            "privacy filter for %dx%d frames: %.1f%% masked, roi %s, min_face_px %g",
            width,
            height,
            100.0 * (self.masked_fraction or 0.0),
            "set" if self._roi is not None else "whole frame",
            self._min_face_px,
        )

    def prepare(self, image: ImageArray) -> ImageArray:
        """Black out the masks on ``image`` (in place unless read-only) and return the frame.

        Also records the frame size that :meth:`admits` measures the ROI against.
        """
        height, width = image.shape[:2]
        if self._size != (width, height):
            self._build(width, height)
        if self._blocked is None:
            return image
        target = image if image.flags.writeable else image.copy()
        np.copyto(target, 0, where=self._blocked)
        return target

    def admits(self, detection: Detection) -> bool:
        """Whether a detection on the last prepared frame may be classified and tracked."""
        box = detection.box
        if min(box.width, box.height) < self._min_face_px:
            return False
        if self._roi_contour is None:
            return True
        cx, cy = box.center
        return bool(cv2.pointPolygonTest(self._roi_contour, (float(cx), float(cy)), False) >= 0)
