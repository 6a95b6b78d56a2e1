"""Unit tests of the robustness suite's degradation families (edge/tools/eval/conditions.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.tools.eval.conditions import (
    FAMILIES,
    LEVELS,
    family_weights,
    gaussian_blur,
    motion_blur,
    parse_conditions,
    random_condition,
    resolution,
)


def _face(seed: int = 0) -> np.ndarray:
    """A 48x48 synthetic face-like image: smooth shading, dark eyes/mouth, fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    img = 110 + 60 * np.exp(-(((xx - 24) / 14.0) ** 2 + ((yy - 26) / 18.0) ** 2))
    for cx, cy in ((15, 18), (33, 18)):
        img -= 70 * np.exp(-(((xx - cx) / 3.0) ** 2 + ((yy - cy) / 2.0) ** 2))
    img -= 60 * np.exp(-(((xx - 24) / 7.0) ** 2 + ((yy - 37) / 2.0) ** 2))
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _high_freq(img: np.ndarray) -> float:
    """Energy of the Laplacian: falls as an image gets blurrier."""
    return float(np.mean(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F) ** 2))


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("level", LEVELS)
def test_every_level_keeps_shape_dtype_and_is_deterministic(name: str, level: str) -> None:
    """Each family at each level returns a uint8 image of the input's shape, changes the image,
    and gives identical output for identically seeded generators."""
    img = _face()
    family = FAMILIES[name]
    a = family.apply(img, level, np.random.default_rng(7))
    b = family.apply(img, level, np.random.default_rng(7))
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, img)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_level_none_is_identity_and_input_untouched(name: str) -> None:
    """The ``none`` strength returns the input unchanged, and no family writes into its input."""
    img = _face(1)
    before = img.copy()
    out = FAMILIES[name].apply(img, "none", np.random.default_rng(0))
    assert np.array_equal(out, before)
    FAMILIES[name].apply(img, "severe", np.random.default_rng(0))
    assert np.array_equal(img, before)


def test_non_square_crops_work() -> None:
    """Families accept crops that are not 48x48 (e.g. 40x56 detector crops)."""
    img = cv2.resize(_face(), (40, 56))
    for family in FAMILIES.values():
        assert family.apply(img, "moderate", np.random.default_rng(3)).shape == (56, 40)


@pytest.mark.parametrize("fn", [gaussian_blur, motion_blur])
def test_more_blur_means_less_high_frequency_energy(fn: object) -> None:
    """Stronger blur strictly lowers the Laplacian energy of the image."""
    img = _face()
    energies = [
        _high_freq(fn(img, s, np.random.default_rng(0)))  # type: ignore[operator]
        for s in (0.0, 1.5, 3.0, 6.0)
    ]
    assert energies == sorted(energies, reverse=True)
    assert energies[-1] < energies[0] / 4


def test_smaller_faces_lose_more_detail() -> None:
    """A face seen at fewer pixels keeps less high-frequency energy after the upscale."""
    img = _face()
    energies = [
        _high_freq(resolution(img, px, np.random.default_rng(0))) for px in (48, 32, 20, 12)
    ]
    assert energies == sorted(energies, reverse=True)


def test_noise_and_compression_error_grow_with_strength() -> None:
    """Mean absolute change grows from mild to severe for noise, JPEG, H.264-like, low light,
    backlight and crop jitter (averaged over seeds)."""
    img = _face()
    for name in ("noise", "jpeg", "h264", "low_light", "backlight", "crop_jitter"):
        family = FAMILIES[name]
        errs = [
            np.mean(
                [
                    np.abs(family.apply(img, lv, np.random.default_rng(s)).astype(int) - img).mean()
                    for s in range(8)
                ]
            )
            for lv in LEVELS
        ]
        assert errs == sorted(errs), (name, errs)


@pytest.mark.parametrize(
    "name", ["occlusion_band", "occlusion_block", "occlusion_mask", "occlusion_sunglasses"]
)
@pytest.mark.parametrize("fraction", [0.25, 0.35, 0.5])
def test_occlusion_covers_the_stated_fraction(name: str, fraction: float) -> None:
    """Each occluder replaces the stated share of the crop's area (within 3 points)."""
    img = np.full((48, 48), 128, np.uint8)
    img[::2] = 129  # a pattern the occluders' fill cannot reproduce row by row
    covered = []
    for seed in range(10):
        out = FAMILIES[name].fn(img, fraction, np.random.default_rng(seed))
        covered.append(float((out != img).mean()))
    # the fill is random grey plus noise, so a few occluder pixels can equal the background
    assert abs(np.mean(covered) - fraction) <= 0.03, covered


def test_band_sits_over_the_mouth() -> None:
    """The band covers the lower face (the mouth row 0.78 of the height) and not the eyes."""
    img = np.full((48, 48), 128, np.uint8)
    out = FAMILIES["occlusion_band"].apply(img, "mild", np.random.default_rng(0))
    changed_rows = np.flatnonzero((out != img).any(axis=1))
    assert changed_rows.min() > 24 and 37 in changed_rows


def test_mild_levels_match_the_issue() -> None:
    """Mild = Gaussian blur sigma 1.5, faces seen at 20 px, a quarter of the face covered."""
    assert FAMILIES["gaussian_blur"].mild == 1.5
    assert FAMILIES["resolution"].mild == 20
    for name in FAMILIES:
        if name.startswith("occlusion_"):
            assert FAMILIES[name].mild == 0.25


def test_parse_conditions() -> None:
    """'all' expands to every family and level; NAME and NAME:LEVEL select; bad names raise."""
    assert len(parse_conditions("all")) == len(FAMILIES) * len(LEVELS)
    assert parse_conditions("jpeg") == [("jpeg", lv) for lv in LEVELS]
    assert parse_conditions("jpeg:mild, noise:severe") == [("jpeg", "mild"), ("noise", "severe")]
    with pytest.raises(ValueError, match="unknown condition 'blur'"):
        parse_conditions("blur")
    with pytest.raises(ValueError, match="unknown level 'hard'"):
        parse_conditions("jpeg:hard")
    with pytest.raises(ValueError, match="empty"):
        parse_conditions(" , ")


def test_random_condition_is_seeded() -> None:
    """Training augmentation draws family and strength from the generator only."""
    img = _face()
    a = [random_condition(img, np.random.default_rng(s)) for s in range(5)]
    b = [random_condition(img, np.random.default_rng(s)) for s in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(x.shape == img.shape and x.dtype == np.uint8 for x in a)


def test_power_weights_random_strengths_towards_mild() -> None:
    """With power > 1 the same draws degrade a face less on average than with power 1 (the
    strength is none + (severe - none) * u**power), and power 1 keeps the uniform draw between
    the none and severe levels that the earlier training runs used."""
    img = _face()

    def change(power: float) -> float:
        out = [random_condition(img, np.random.default_rng([7, s]), power) for s in range(300)]
        return float(np.mean([np.abs(o.astype(int) - img.astype(int)).mean() for o in out]))

    assert change(3.0) < 0.8 * change(1.0)
    rng = np.random.default_rng([7, 0])
    family = list(FAMILIES.values())[int(rng.integers(len(FAMILIES)))]
    strength = rng.uniform(min(family.none, family.severe), max(family.none, family.severe))
    expected = family.fn(img, float(strength), rng)
    assert np.array_equal(random_condition(img, np.random.default_rng([7, 0])), expected)


def test_family_weights_make_the_named_families_likelier() -> None:
    """Weights change how often each family is drawn (a weight-0 family never appears and a
    weight-5 family about five times as often as an unnamed one), and the strings that
    ``train.py --robust-family-weights`` passes are parsed with errors that name the fix."""
    img = _face()
    names = list(FAMILIES)
    weights = family_weights(f"{names[0]}=5, {names[1]}=0")
    counts = dict.fromkeys(names, 0)
    for s in range(2000):
        rng = np.random.default_rng([3, s])
        w = np.array([weights.get(n, 1.0) for n in names])
        counts[names[int(rng.choice(len(names), p=w / w.sum()))]] += 1
        out = random_condition(img, np.random.default_rng([3, s]), 1.0, weights)
        assert out.shape == img.shape and out.dtype == np.uint8
    assert counts[names[1]] == 0
    assert 3.5 * counts[names[2]] < counts[names[0]] < 7.0 * counts[names[2]]
    with pytest.raises(ValueError, match="unknown family 'blur'; use one of gaussian_blur"):
        family_weights("blur=2")
    with pytest.raises(ValueError, match="needs a weight >= 0, as in noise=2"):
        family_weights("noise")
    with pytest.raises(ValueError, match="needs a weight >= 0"):
        family_weights("noise=-1")
    with pytest.raises(ValueError, match="empty"):
        family_weights(" , ")
