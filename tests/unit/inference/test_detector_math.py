"""BlazeFace geometry without a model: anchors, tiles, weighted NMS."""

from __future__ import annotations

import numpy as np
import pytest

from edge.inference.detector import auto_tiles, make_anchors, plan_regions, weighted_nms


def test_short_range_anchors() -> None:
    """Short range: 896 anchors, 16x16x2 at stride 8 then 8x8x6 at stride 16, cell centres."""
    anchors = make_anchors(128, [8, 16, 16, 16], [2, 2, 2, 2], 0.5)
    assert anchors.shape == (896, 2)
    assert anchors[0] == pytest.approx([0.5 / 16, 0.5 / 16])
    assert anchors[1] == pytest.approx(anchors[0])  # two anchors share a cell
    assert anchors[512] == pytest.approx([0.5 / 8, 0.5 / 8])
    assert np.allclose(anchors[512:518], anchors[512])  # six anchors per 16-stride cell
    assert anchors[-1] == pytest.approx([7.5 / 8, 7.5 / 8])


def test_full_range_anchors() -> None:
    """Full range: 2304 anchors, one per cell of a 48x48 grid (stride 4 at 192 px)."""
    anchors = make_anchors(192, [4], [1], 0.5)
    assert anchors.shape == (2304, 2)
    assert anchors[1] == pytest.approx([1.5 / 48, 0.5 / 48])
    assert anchors[48] == pytest.approx([0.5 / 48, 1.5 / 48])


def test_tiles_cover_frame_with_overlap() -> None:
    """Tiling adds N x N overlapping tiles that together cover every pixel of the frame."""
    regions = plan_regions(640, 480, 2, 0.25)
    assert len(regions) == 5
    assert (regions[0].x1, regions[0].y1) == (640, 480)
    covered = np.zeros((480, 640), bool)
    for r in regions[1:]:
        covered[r.y0 : r.y1, r.x0 : r.x1] = True
    assert covered.all()
    assert regions[1].x1 > regions[2].x0  # neighbours overlap
    assert plan_regions(640, 480, 1, 0.25) == regions[:1]


def test_weighted_nms_merges_overlaps_by_score() -> None:
    """Overlapping candidates merge into their score-weighted mean; separate faces stay."""
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    eyes = np.array([[3, 4, 7, 4], [5, 4, 9, 4], [53, 54, 57, 54]], np.float32)
    out = weighted_nms(boxes, scores, eyes, iou_threshold=0.3, limit=10)
    assert len(out) == 2
    assert out[0].score == pytest.approx(0.9)
    assert out[0].box.x0 == pytest.approx((0 * 0.9 + 2 * 0.3) / 1.2)
    assert out[0].right_eye[0] == pytest.approx((3 * 0.9 + 5 * 0.3) / 1.2)
    assert out[1].box.x0 == pytest.approx(50)


def test_weighted_nms_limit() -> None:
    """No more than `limit` faces are returned, best first."""
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], np.float32)
    scores = np.linspace(0.5, 0.9, 5).astype(np.float32)
    out = weighted_nms(boxes, scores, np.zeros((5, 4), np.float32), 0.3, limit=2)
    assert [round(d.score, 2) for d in out] == [0.9, 0.8]


@pytest.mark.parametrize(
    ("width", "height", "tiles"),
    [(640, 480, 1), (640, 360, 1), (768, 768, 1), (1000, 750, 2), (1920, 1080, 3), (4096, 3072, 4)],
)
def test_auto_tiles_from_frame_and_input_size(width: int, height: int, tiles: int) -> None:
    """tiles: auto takes the fewest tiles per side whose side is at most 4 x the 192 px input:
    a VGA frame stays whole, a 1000 px crowd frame is cut 2 x 2, 4 is the most."""
    assert auto_tiles(width, height, input_size=192, ratio=4.0, overlap=0.25) == tiles
