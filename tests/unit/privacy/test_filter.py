"""Privacy masks, region of interest and minimum face size: config, frame and detections."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edge.config import Config, ConfigError, PrivacyConfig, parse_text
from edge.config.privacy import Region
from edge.privacy.filter import PrivacyFilter, build_mask
from edge.types import Box, CameraStatus, Detection, ImageArray


def _issues(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "edge.yaml")
    return [(i.path, i.line, i.message) for i in info.value.issues]


def detection(x0: float, y0: float, x1: float, y1: float) -> Detection:
    return Detection(Box(x0, y0, x1, y1), 0.9, (x0, y0), (x1, y0))


def frame(width: int = 100, height: int = 50) -> ImageArray:
    return np.full((height, width, 3), 200, dtype=np.uint8)


# ----------------------------------------------------------------------------- config


def test_regions_parse_in_both_units_and_shapes() -> None:
    """Masks accept polygons and rectangles in pixels or normalised units; ROI is one region."""
    config = parse_text(
        "privacy:\n"
        "  masks:\n"
        "    - units: normalized\n"
        "      points: [[0, 0], [0.5, 0], [0.5, 1]]\n"
        "    - units: pixels\n"
        "      rect: [10, 20, 30, 40]\n"
        "  roi:\n"
        "    units: normalized\n"
        "    rect: [0.25, 0.25, 0.75, 1]\n"
        "  min_face_px: 24\n"
    )
    masks = config.privacy.masks
    assert [m.units for m in masks] == ["normalized", "pixels"]
    assert masks[1].polygon() == [(10, 20), (30, 20), (30, 40), (10, 40)]
    assert config.privacy.roi is not None
    assert config.privacy.roi.in_pixels(200, 100)[0] == (50.0, 25.0)
    assert config.privacy.min_face_px == 24


def test_defaults_change_nothing() -> None:
    """Without privacy keys there are no masks, no ROI, no size floor and no DP."""
    privacy = Config().privacy
    assert (privacy.masks, privacy.roi, privacy.min_face_px) == ((), None, 0)
    assert privacy.dp.epsilon is None


def test_normalized_point_out_of_range_names_point_and_line() -> None:
    """A normalised coordinate above 1 is rejected on the region's line, naming the point."""
    [(path, line, message)] = _issues(
        "privacy:\n  masks:\n    - units: normalized\n      points: [[0, 0], [1.5, 0], [0, 1]]\n"
    )
    assert (path, line) == ("privacy.masks.0", 3)
    assert "point 2 (1.5, 0)" in message and "units: pixels" in message


def test_negative_coordinate_points_at_its_own_line() -> None:
    """A negative pixel coordinate is reported at the exact YAML line of that point."""
    [(path, line, _message)] = _issues(
        "privacy:\n  masks:\n    - units: pixels\n      points:\n"
        "        - [0, 0]\n        - [-4, 0]\n        - [3, 3]\n"
    )
    assert (path, line) == ("privacy.masks.0.points.1.0", 6)


def test_region_shape_errors() -> None:
    """Too few points, no area, both or neither of points/rect, inverted rect, missing units."""
    cases = {
        "      units: pixels\n      points: [[0, 0], [1, 1]]\n": "at least 3",
        "      units: pixels\n      points: [[0, 0], [1, 1], [2, 2]]\n": "no area",
        "      units: pixels\n": "exactly one of",
        "      units: pixels\n      rect: [5, 5, 1, 9]\n": "x1 > x0",
        "      rect: [0, 0, 1, 1]\n": "Field required",
        "      units: px\n      rect: [0, 0, 1, 1]\n": "'pixels' or 'normalized'",
    }
    for body, expected in cases.items():
        issues = _issues("privacy:\n  masks:\n    -\n" + body)
        assert len(issues) == 1, (body, issues)
        assert issues[0][0].startswith("privacy.masks.0"), issues
        assert issues[0][1] is not None and issues[0][1] >= 3
        assert expected in issues[0][2], (body, issues)


def test_min_face_px_and_dp_constraints() -> None:
    """min_face_px must be >= 0; epsilon > 0; the counts fraction strictly inside (0, 1)."""
    issues = _issues(
        "privacy:\n  min_face_px: -1\n  dp:\n    epsilon: 0\n    counts_fraction: 1\n"
    )
    assert [(p, line) for p, line, _ in issues] == [
        ("privacy.min_face_px", 2),
        ("privacy.dp.epsilon", 4),
        ("privacy.dp.counts_fraction", 5),
    ]


# ----------------------------------------------------------------------------- masks


def test_mask_blacks_out_polygons_in_place() -> None:
    """A normalised left-half rectangle and a pixel triangle are zero; the rest is untouched."""
    privacy = PrivacyConfig(
        masks=(
            Region(units="normalized", rect=(0, 0, 0.5, 1)),
            Region(units="pixels", points=[(80, 0), (99, 0), (99, 19)]),
        )
    )
    filt = PrivacyFilter(privacy)
    image = frame()
    out = filt.prepare(image)
    assert out is image  # in place: sources hand out a fresh array per frame
    assert (image[:, :50] == 0).all()
    assert (image[:, 51:80] == 200).all()
    assert (image[0, 95] == 0).all() and (image[19, 99] == 0).all()
    assert (image[19, 81] == 200).all()  # below the triangle's diagonal
    assert filt.masked_fraction is not None and 0.5 < filt.masked_fraction < 0.6


def test_mask_is_built_once_per_frame_size() -> None:
    """The mask is rasterised on the first frame of a size and reused until the size changes."""
    filt = PrivacyFilter(PrivacyConfig(masks=(Region(units="normalized", rect=(0, 0, 1, 0.5)),)))
    filt.prepare(frame())
    first = filt._blocked
    filt.prepare(frame())
    assert filt._blocked is first
    small = frame(40, 20)
    filt.prepare(small)
    assert filt._blocked is not first
    assert (small[:10] == 0).all() and (small[11:] == 200).all()


def test_read_only_frame_is_copied_not_written() -> None:
    """A read-only frame is masked on a copy, never written through."""
    filt = PrivacyFilter(PrivacyConfig(masks=(Region(units="normalized", rect=(0, 0, 1, 1)),)))
    image = frame()
    image.flags.writeable = False
    out = filt.prepare(image)
    assert out is not image
    assert (out == 0).all() and (image == 200).all()


def test_no_masks_leaves_frame_untouched() -> None:
    """Without masks, prepare returns the same array unchanged and nothing is allocated."""
    filt = PrivacyFilter(PrivacyConfig())
    image = frame()
    assert filt.prepare(image) is image
    assert (image == 200).all()
    assert build_mask((), 100, 50) is None


def test_pixel_region_beyond_frame_is_clipped() -> None:
    """A pixel region reaching past the frame edge blacks out only the part inside it."""
    filt = PrivacyFilter(PrivacyConfig(masks=(Region(units="pixels", rect=(90, 40, 500, 500)),)))
    image = frame()
    filt.prepare(image)
    assert (image[40:, 90:] == 0).all()
    assert (image[:39] == 200).all()


# ----------------------------------------------------------------------------- detections


def test_min_face_px_drops_small_faces() -> None:
    """Faces whose shorter box side is below min_face_px are dropped; at the limit, kept."""
    filt = PrivacyFilter(PrivacyConfig(min_face_px=20))
    filt.prepare(frame())
    assert filt.admits(detection(0, 0, 20, 20))
    assert not filt.admits(detection(0, 0, 40, 19.5))
    assert not filt.admits(detection(0, 0, 10, 40))


def test_roi_keeps_faces_by_centre() -> None:
    """Only faces whose box centre lies inside the ROI (normalised, per frame size) are kept."""
    roi = Region(units="normalized", points=[(0.5, 0), (1, 0), (1, 1), (0.5, 1)])
    filt = PrivacyFilter(PrivacyConfig(roi=roi))
    filt.prepare(frame(100, 50))
    assert filt.admits(detection(45, 10, 75, 40))  # centre x 60
    assert not filt.admits(detection(20, 10, 60, 40))  # centre x 40, box overlaps the ROI
    filt.prepare(frame(400, 200))  # a new size re-scales the normalised ROI
    assert not filt.admits(detection(45, 10, 75, 40))


class _RecordingAnalyzer:
    """Stands in for FaceAnalyzer: records the pixels it was given, finds two fixed faces."""

    def __init__(self) -> None:
        spec = SimpleNamespace(short_id="stub@0")
        self.detector = SimpleNamespace(spec=spec)
        self.classifier = SimpleNamespace(spec=spec)
        self.share_factor = 1.0  # window shares are the probabilities themselves
        self.seen: list[ImageArray] = []
        self.classified: list[Detection] = []

    def detect(self, image: ImageArray, keep: Any = None) -> list[Detection]:
        self.seen.append(image.copy())
        found = [detection(5, 5, 45, 45), detection(60, 5, 70, 15)]
        return [d for d in found if keep is None or keep(d)]

    def classify(self, image: ImageArray, detections: list[Detection]) -> np.ndarray:
        self.classified.extend(detections)
        return np.tile(np.array([0, 0, 0, 1, 0, 0, 0], np.float32), (len(detections), 1))


def test_pipeline_masks_before_detection_and_filters_before_classification() -> None:
    """In the Pipeline the detector only ever sees masked pixels, and a face below
    min_face_px is never classified or tracked."""
    from edge.pipeline import Pipeline

    config = Config.model_validate(
        {
            "privacy": {
                "masks": [{"units": "normalized", "rect": [0.5, 0, 1, 1]}],
                "min_face_px": 20,
            }
        }
    )
    analyzer = _RecordingAnalyzer()
    clock = SimpleNamespace(wall=lambda: 1000.0, monotonic=lambda: 0.0)
    windows = SimpleNamespace(window_closed=lambda _w: None)
    pipeline = Pipeline.from_config(config, analyzer, windows, clock)  # type: ignore[arg-type]
    source = SimpleNamespace(
        read=lambda _t: SimpleNamespace(image=frame(), t_s=0.0, index=0),
        status=CameraStatus("ok", 0.0, 0),
    )
    pipeline.step(source)  # type: ignore[arg-type]
    [seen] = analyzer.seen
    assert (seen[:, 50:] == 0).all() and (seen[:, :50] == 200).all()
    assert [d.box.x0 for d in analyzer.classified] == [5]
    assert pipeline.tracker.live_tracks == 1
