"""The classifier's crop path: the anti-aliased shrink, the enlarge interpolation, alignment off,
and buffers made once (the bundled classifier, a synthetic frame; no ../shared)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.inference.classifier import MAX_SUPERSAMPLE, ExpressionClassifier
from edge.inference.models import ModelSpec, bundled_models_dir, get_spec
from edge.types import Box, Detection


def _spec() -> ModelSpec:
    return get_spec(bundled_models_dir(), Config().classifier.model, "classifier")


def _texture(h: int = 480, w: int = 480, sigma: float = 1.0) -> np.ndarray:
    """Fine grey texture (noise blurred by ``sigma`` px): aliasing shows on it."""
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 256, (h, w), dtype=np.uint8)
    return np.asarray(cv2.GaussianBlur(noise, (0, 0), sigma), dtype=np.uint8)


def _square(x0: int, y0: int, side: int, eye_dy: float = 0.0) -> Detection:
    """A box covering frame pixels x0..x0+side-1 (pixel edges at -0.5), eyes level unless
    ``eye_dy``."""
    box = Box(x0 - 0.5, y0 - 0.5, x0 + side - 0.5, y0 + side - 0.5)
    ey = y0 + side * 0.35
    return Detection(box, 0.9, (x0 + side * 0.7, ey + eye_dy), (x0 + side * 0.3, ey))


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("side", [144, 192])
def test_area_shrink_equals_inter_area_of_the_box(side: int) -> None:
    """An axis-aligned face 3 or 4 times larger than the crop comes out of the anti-aliased
    path as cv2.resize(INTER_AREA) of its box, from the grey and from the RGB frame; one
    bilinear warp of the same face does not (it reads 4 or fewer of the 9 or 16 pixels; at
    factor 2 the two agree, as a bilinear tap midway between 2x2 pixels is their mean)."""
    gray = _texture()
    det = _square(100, 120, side)
    area = cv2.resize(gray[120 : 120 + side, 100 : 100 + side], (48, 48),
                      interpolation=cv2.INTER_AREA)  # fmt: skip
    anti = ExpressionClassifier(_spec(), threads=1, margin=0.0, shrink="area")
    plain = ExpressionClassifier(_spec(), threads=1, margin=0.0, shrink="linear")
    assert _mae(anti.align(gray, det), area) < 0.5
    anti.crop_into(np.dstack([gray] * 3), det, 0)
    assert _mae(anti._crops[0], area) < 0.5
    assert _mae(plain.align(gray, det), area) > 3.0


@pytest.mark.parametrize("side", [110, 150, 300])
def test_area_shrink_is_close_to_inter_area_at_any_factor(side: int) -> None:
    """At a non-integer factor (and past MAX_SUPERSAMPLE) the anti-aliased crop stays within a
    grey level of INTER_AREA of the box, and several times closer than one bilinear warp."""
    gray = _texture()
    det = _square(60, 80, side)
    area = cv2.resize(gray[80 : 80 + side, 60 : 60 + side], (48, 48),
                      interpolation=cv2.INTER_AREA)  # fmt: skip
    anti = ExpressionClassifier(_spec(), threads=1, margin=0.0, shrink="area")
    plain = ExpressionClassifier(_spec(), threads=1, margin=0.0, shrink="linear")
    error = _mae(anti.align(gray, det), area)
    assert error < 1.0
    assert error < 0.25 * _mae(plain.align(gray, det), area)


def test_small_face_uses_the_enlarge_interpolation() -> None:
    """A face smaller than the crop is warped once with the enlarge interpolation (cubic or
    linear), whatever the shrink mode."""
    gray = _texture(sigma=2.0)
    det = _square(50, 50, 30)
    cubic = ExpressionClassifier(_spec(), threads=1, margin=0.1, shrink="area", enlarge="cubic")
    linear = ExpressionClassifier(_spec(), threads=1, margin=0.1, shrink="area")
    matrix = cubic.alignment_matrix(det)
    flags = cv2.WARP_INVERSE_MAP
    for clf, inter in ((cubic, cv2.INTER_CUBIC), (linear, cv2.INTER_LINEAR)):
        expected = cv2.warpAffine(gray, matrix, (48, 48), flags=inter | flags,
                                  borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        np.testing.assert_array_equal(clf.align(gray, det), expected)
    assert not np.array_equal(cubic.align(gray, det).copy(), linear.align(gray, det))


def test_axis_aligned_crop_ignores_the_eye_line() -> None:
    """align=False keeps the crop axis-aligned for a tilted eye line; the default rotates it."""
    det = _square(50, 50, 100, eye_dy=20.0)
    flat = ExpressionClassifier(_spec(), threads=1, margin=0.1, align=False)
    turned = ExpressionClassifier(_spec(), threads=1, margin=0.1)
    m = flat.alignment_matrix(det)
    assert m[1, 0] == 0.0 and m[0, 1] == 0.0
    r = turned.alignment_matrix(det)
    assert math.degrees(math.atan2(r[1, 0], r[0, 0])) == pytest.approx(
        math.degrees(math.atan2(20.0, 40.0))
    )


def test_anti_aliased_path_reuses_its_buffers() -> None:
    """The intermediate crops are made once per factor at start (2..MAX_SUPERSAMPLE, grey and
    RGB) and written in place: crops of many sizes allocate no new buffer."""
    clf = ExpressionClassifier(_spec(), threads=1, margin=0.1, shrink="area")
    buffers = {key: (buf, buf.ctypes.data) for key, buf in clf._fine.items()}
    assert sorted(buffers) == [(k, nd) for k in range(2, MAX_SUPERSAMPLE + 1) for nd in (2, 3)]
    gray = _texture()
    rgb = np.dstack([gray] * 3)
    for side in (60, 100, 150, 200, 400):
        clf.align(gray, _square(10, 10, side))
        clf.crop_into(rgb, _square(10, 10, side), 0)
    for key, (buf, ptr) in buffers.items():
        assert clf._fine[key] is buf and buf.ctypes.data == ptr
        assert buf.any()  # every factor was used


def test_unknown_mode_is_refused() -> None:
    """A shrink or enlarge mode the classifier does not know is a ValueError naming both lists."""
    with pytest.raises(ValueError, match=r"shrink must be one of linear, area"):
        ExpressionClassifier(_spec(), threads=1, margin=0.1, shrink="lanczos")
    with pytest.raises(ValueError, match=r"enlarge one of linear, cubic"):
        ExpressionClassifier(_spec(), threads=1, margin=0.1, enlarge="nearest")
