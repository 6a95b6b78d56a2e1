"""Masks, ROI and min_face_px with the real detector on frames of the bundled clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import Config, PrivacyConfig
from edge.config.privacy import Region
from edge.inference.analyzer import FaceAnalyzer
from edge.privacy.filter import PrivacyFilter
from edge.types import Face, ImageArray
from tests.conftest import SAMPLE_VIDEO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_config(Config())


@pytest.fixture(scope="module")
def busy_frame(analyzer: FaceAnalyzer) -> ImageArray:
    """The first frame of the clip in which the detector finds at least three faces."""
    cap = cv2.VideoCapture(str(SAMPLE_VIDEO))
    try:
        for _ in range(150):
            ok, bgr = cap.read()
            assert ok, "the sample clip ended before a frame with 3 faces"
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            if len(analyzer.analyze(rgb)) >= 3:
                return rgb
    finally:
        cap.release()
    raise AssertionError("no frame with 3 faces in the first 150 frames")


def _run(analyzer: FaceAnalyzer, image: ImageArray, privacy: PrivacyConfig) -> list[Face]:
    filt = PrivacyFilter(privacy)
    return analyzer.analyze(filt.prepare(image.copy()), keep=filt.admits)


def test_masking_a_face_hides_it_from_the_detector(
    analyzer: FaceAnalyzer, busy_frame: ImageArray
) -> None:
    """A mask over one detected face's box makes the real detector miss that face (other
    faces may lose score too: the detector sees the whole frame); a small corner mask changes
    nothing; a mask over the whole frame leaves no face at all."""
    faces = _run(analyzer, busy_frame, PrivacyConfig())
    target = max(faces, key=lambda f: f.detection.box.area).detection.box
    pad = 0.25 * target.width
    rect = (max(0.0, target.x0 - pad), max(0.0, target.y0 - pad), target.x1 + pad, target.y1 + pad)
    masked = _run(analyzer, busy_frame, PrivacyConfig(masks=(Region(units="pixels", rect=rect),)))
    assert len(masked) < len(faces)
    assert all(f.detection.box.iou(target) < 0.1 for f in masked)
    corner = PrivacyConfig(masks=(Region(units="normalized", rect=(0, 0, 0.05, 0.05)),))
    assert len(_run(analyzer, busy_frame, corner)) == len(faces)
    whole = PrivacyConfig(masks=(Region(units="normalized", rect=(0, 0, 1, 1)),))
    assert _run(analyzer, busy_frame, whole) == []


def test_roi_and_min_face_px_select_faces(analyzer: FaceAnalyzer, busy_frame: ImageArray) -> None:
    """An ROI around one face keeps only that face; a size floor above the smallest face's
    size drops it (and keeps the larger ones)."""
    faces = _run(analyzer, busy_frame, PrivacyConfig())
    height, width = busy_frame.shape[:2]
    first = faces[0].detection.box
    roi = Region(
        units="normalized",
        rect=(first.x0 / width, first.y0 / height, first.x1 / width, first.y1 / height),
    )
    kept = _run(analyzer, busy_frame, PrivacyConfig(roi=roi))
    assert len(kept) == 1 and kept[0].detection.box.iou(first) > 0.8
    sizes = sorted(min(f.detection.box.width, f.detection.box.height) for f in faces)
    floor = int(sizes[0]) + 1
    big = _run(analyzer, busy_frame, PrivacyConfig(min_face_px=floor))
    assert len(big) == sum(s >= floor for s in sizes) and len(big) < len(faces)
