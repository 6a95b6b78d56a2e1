"""Image degradations for the robustness suite (issue 21) and for robustness training.

Every family is a pure function ``(img, strength, rng) -> img``: ``img`` a uint8 H x W grey face
crop (a FER-style tight box, typically 48 x 48), ``strength`` in the family's own unit (below),
``rng`` a :class:`numpy.random.Generator` that is the only source of randomness, so a seeded
generator gives the same output every time. The output has the input's shape and dtype.

:data:`FAMILIES` names each family with its strengths: ``none`` (the identity), and the named
levels ``mild``, ``moderate``, ``severe``. ``mild`` is the issue's definition of a mild condition
(Gaussian blur sigma 1.5, a face seen at 20 px, a quarter of the face covered); the other
families' mild levels are chosen to hurt about as much. Training draws a strength uniformly
between ``none`` and ``severe`` (:func:`random_condition`).

The module needs only numpy and OpenCV, so ``models/train/train.py`` imports it directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Gray = npt.NDArray[np.uint8]
ConditionFn = Callable[[Gray, float, np.random.Generator], Gray]
LEVELS: tuple[str, ...] = ("mild", "moderate", "severe")


def _u8(x: npt.NDArray[np.generic]) -> Gray:
    return np.asarray(np.clip(np.rint(x), 0, 255), dtype=np.uint8)


def _odd(n: float) -> int:
    k = max(math.ceil(n), 1)
    return k if k % 2 else k + 1


# ------------------------------------------------------------------------------------- blur


def gaussian_blur(img: Gray, sigma: float, rng: np.random.Generator) -> Gray:
    """Focus blur: Gaussian with standard deviation ``sigma`` pixels (at the crop's size)."""
    if sigma <= 0:
        return img.copy()
    k = _odd(6 * sigma + 1)
    out = cv2.GaussianBlur(img, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return np.asarray(out, dtype=np.uint8)


def motion_blur(img: Gray, length: float, rng: np.random.Generator) -> Gray:
    """Motion blur: a line kernel ``length`` pixels long at a random angle."""
    if length <= 1:
        return img.copy()
    k = _odd(length + 2)
    kernel = np.zeros((k, k), np.float32)
    c = (k - 1) / 2.0
    angle = rng.uniform(0.0, math.pi)
    dx, dy = math.cos(angle) * (length - 1) / 2.0, math.sin(angle) * (length - 1) / 2.0
    p0 = (round((c - dx) * 16), round((c - dy) * 16))
    p1 = (round((c + dx) * 16), round((c + dy) * 16))
    cv2.line(kernel, p0, p1, 1.0, 1, cv2.LINE_AA, shift=4)
    kernel /= kernel.sum()
    out = cv2.filter2D(img.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
    return _u8(out)


# ------------------------------------------------------------------------------- resolution


def resolution(img: Gray, face_px: float, rng: np.random.Generator) -> Gray:
    """A face seen at ``face_px`` pixels: area-downscale (the camera), then bilinear upscale
    back to the crop size (the runtime's ``warpAffine`` with ``INTER_LINEAR``)."""
    h, w = img.shape
    side = round(face_px)
    if side >= max(h, w):
        return img.copy()
    small_w, small_h = max(round(w * side / max(h, w)), 2), max(round(h * side / max(h, w)), 2)
    small = cv2.resize(img, (small_w, small_h), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


# ------------------------------------------------------------------------------------ noise


def sensor_noise(img: Gray, sigma: float, rng: np.random.Generator) -> Gray:
    """Sensor noise: signal-dependent Gaussian (shot + read noise) with standard deviation
    ``sigma`` grey levels at mid grey (``sqrt(0.5 s^2 + s^2 x / 255)`` at level x)."""
    if sigma <= 0:
        return img.copy()
    x = img.astype(np.float32)
    std = sigma * np.sqrt(0.5 + x / 255.0)
    return _u8(x + rng.standard_normal(img.shape).astype(np.float32) * std)


# ------------------------------------------------------------------------------ compression


def jpeg(img: Gray, badness: float, rng: np.random.Generator) -> Gray:
    """JPEG at quality ``100 - badness`` (badness 70 = quality 30)."""
    quality = round(100 - badness)
    if quality >= 100:
        return img.copy()
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, max(quality, 1)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 grey
        raise RuntimeError("JPEG encoding failed")
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return np.asarray(out, dtype=np.uint8).reshape(img.shape)


def h264_like(img: Gray, step: float, rng: np.random.Generator) -> Gray:
    """H.264-like low-bitrate coding: 4x4 block DCT with a uniform quantizer of ``step`` (a dead
    zone rounding offset of 1/6 as an inter-coded block), DC kept finer, then a light deblocking
    blur across the block edges. Gives the flat, blocky look of a low-bitrate stream."""
    if step <= 0:
        return img.copy()
    h, w = img.shape
    ph, pw = (-h) % 4, (-w) % 4
    x = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REPLICATE).astype(np.float32) - 128.0
    blocks = x.reshape(x.shape[0] // 4, 4, x.shape[1] // 4, 4).transpose(0, 2, 1, 3)
    d = _dct4()
    coef = d @ blocks @ d.T
    steps = np.full((4, 4), step, np.float32)
    steps[0, 0] = max(step / 4.0, 1.0)
    q = np.sign(coef) * np.floor(np.abs(coef) / steps + 1.0 / 6.0)
    rec = d.T @ (q * steps) @ d
    out = rec.transpose(0, 2, 1, 3).reshape(x.shape)[:h, :w] + 128.0
    edge = np.zeros((h, w), np.float32)
    edge[:, 3::4] = edge[:, 4::4] = 1.0
    edge[3::4, :] = edge[4::4, :] = 1.0
    smooth = cv2.GaussianBlur(out, (3, 3), 0.8, borderType=cv2.BORDER_REFLECT)
    return _u8(out + edge * (smooth - out) * 0.7)


def _dct4() -> npt.NDArray[np.float32]:
    n = 4
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos(math.pi * (2 * i + 1) * k / (2 * n))
    d[0] /= math.sqrt(2.0)
    return np.asarray(d, dtype=np.float32)


# -------------------------------------------------------------------------------- lighting


def low_light(img: Gray, darkness: float, rng: np.random.Generator) -> Gray:
    """Low light: the exposure falls to ``1 - darkness`` of normal and the sensor's gain noise
    rises (``2 + 8 * darkness`` grey levels); the result stays dark (few grey levels left)."""
    if darkness <= 0:
        return img.copy()
    x = img.astype(np.float32) * (1.0 - darkness)
    noise = rng.standard_normal(img.shape).astype(np.float32) * (2.0 + 8.0 * darkness)
    return _u8(x + noise)


def _face_mask(h: int, w: int) -> npt.NDArray[np.float32]:
    """Soft elliptical face region of a FER-style crop (1 inside, 0 in the corners)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - (w - 1) / 2) / (0.42 * w)) ** 2 + ((yy - (h - 1) * 0.55) / (0.55 * h)) ** 2)
    return np.asarray(np.clip((1.15 - r) / 0.3, 0.0, 1.0), dtype=np.float32)


def backlight(img: Gray, amount: float, rng: np.random.Generator) -> Gray:
    """Backlight: the face darker (x ``1 - 0.7 a``) and flatter (contrast x ``1 - 0.5 a``)
    against a surround blown towards white, plus veiling glare, for amount ``a`` in 0..1."""
    if amount <= 0:
        return img.copy()
    h, w = img.shape
    x = img.astype(np.float32)
    mean = float(x.mean())
    face = ((x - mean) * (1.0 - 0.5 * amount) + mean) * (1.0 - 0.7 * amount)
    bright = rng.uniform(225.0, 255.0)
    surround = x + (bright - x) * min(1.0, 1.2 * amount)
    m = _face_mask(h, w)
    out = face * m + surround * (1.0 - m) + 25.0 * amount
    return _u8(out)


# ------------------------------------------------------------------------------- occlusion


def _fill(rng: np.random.Generator, shape: tuple[int, int], lo: float, hi: float) -> Gray:
    """An occluder's texture: a flat grey level in lo..hi with a little noise."""
    level = rng.uniform(lo, hi)
    return _u8(level + rng.normal(0.0, 4.0, shape))


def occlusion_band(img: Gray, fraction: float, rng: np.random.Generator) -> Gray:
    """A horizontal band (a hand, a scarf, an object) over the mouth covering ``fraction`` of the
    crop's area, centred near the mouth (row 0.78 of the height), clipped to the crop."""
    h, w = img.shape
    rows = min(round(fraction * h), h)
    if rows <= 0:
        return img.copy()
    centre = 0.78 * h + rng.uniform(-0.04, 0.04) * h
    top = int(np.clip(round(centre - rows / 2), 0, h - rows))
    out = img.copy()
    out[top : top + rows] = _fill(rng, (rows, w), 20.0, 235.0)
    return out


def occlusion_block(img: Gray, fraction: float, rng: np.random.Generator) -> Gray:
    """A random rectangle (aspect 0.5-2) covering ``fraction`` of the crop, fully inside it."""
    h, w = img.shape
    area = fraction * h * w
    if area < 1:
        return img.copy()
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    bh = int(np.clip(round(math.sqrt(area * aspect)), 1, h))
    bw = int(np.clip(round(area / bh), 1, w))
    y0 = int(rng.integers(0, h - bh + 1))
    x0 = int(rng.integers(0, w - bw + 1))
    out = img.copy()
    out[y0 : y0 + bh, x0 : x0 + bw] = _fill(rng, (bh, bw), 0.0, 255.0)
    return out


def occlusion_mask(img: Gray, fraction: float, rng: np.random.Generator) -> Gray:
    """A face-mask-like patch over the lower face: 88 % of the width, from the bottom up, tall
    enough to cover ``fraction`` of the crop; a light fabric tone."""
    h, w = img.shape
    x0, x1 = round(0.06 * w), round(0.94 * w)
    rows = min(round(fraction * h * w / max(x1 - x0, 1)), h)
    if rows <= 0:
        return img.copy()
    out = img.copy()
    out[h - rows :, x0:x1] = _fill(rng, (rows, x1 - x0), 150.0, 235.0)
    return out


def occlusion_sunglasses(img: Gray, fraction: float, rng: np.random.Generator) -> Gray:
    """Sunglasses-like patches: two dark lenses over the eyes (centred at 0.3 / 0.7 of the width,
    row 0.38 of the height), together covering ``fraction`` of the crop."""
    h, w = img.shape
    lens = fraction * h * w / 2.0
    if lens < 1:
        return img.copy()
    lw = min(round(math.sqrt(lens * 1.4)), w // 2)
    lh = min(round(lens / max(lw, 1)), h)
    cy = 0.38 * h + rng.uniform(-0.03, 0.03) * h
    top = int(np.clip(round(cy - lh / 2), 0, h - lh))
    out = img.copy()
    dark = _fill(rng, (lh, w), 5.0, 45.0)
    lefts = (
        int(np.clip(round(0.3 * w - lw / 2), 0, w // 2 - lw)),
        int(np.clip(round(0.7 * w - lw / 2), w // 2, w - lw)),
    )  # the two lenses never overlap, so they cover the stated area
    for left in lefts:
        out[top : top + lh, left : left + lw] = dark[:, left : left + lw]
    return out


# ------------------------------------------------------------------------------- crop jitter


def crop_jitter(img: Gray, amount: float, rng: np.random.Generator) -> Gray:
    """A wobbling detector box: shift up to ``amount`` of the size, scale by up to
    ``exp(+-amount)``, rotate by up to ``100 * amount`` degrees (uniform draws), reflected
    border where the new box leaves the crop."""
    if amount <= 0:
        return img.copy()
    h, w = img.shape
    angle = rng.uniform(-100.0, 100.0) * amount
    scale = math.exp(rng.uniform(-amount, amount))
    tx, ty = rng.uniform(-amount, amount, size=2) * (w, h)
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale)
    m[:, 2] += (tx, ty)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return np.asarray(out, dtype=np.uint8)


# -------------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class Family:
    """One degradation family: its function, unit and strengths (``none`` = identity)."""

    name: str
    fn: ConditionFn
    unit: str
    none: float
    mild: float
    moderate: float
    severe: float

    def level(self, name: str) -> float:
        """Strength of the named level (``none``, ``mild``, ``moderate``, ``severe``)."""
        if name not in ("none", *LEVELS):
            raise KeyError(f"unknown level {name!r}; use one of none, {', '.join(LEVELS)}")
        return float(getattr(self, name))

    def apply(self, img: Gray, level: str, rng: np.random.Generator) -> Gray:
        """``fn`` at the named level."""
        return self.fn(img, self.level(level), rng)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("gaussian_blur", gaussian_blur, "sigma px", 0.0, 1.5, 2.5, 3.5),
        Family("motion_blur", motion_blur, "length px", 0.0, 5.0, 9.0, 13.0),
        Family("resolution", resolution, "face px", 48.0, 20.0, 16.0, 12.0),
        Family("noise", sensor_noise, "sigma grey levels", 0.0, 8.0, 16.0, 28.0),
        Family("jpeg", jpeg, "100 - quality", 0.0, 70.0, 85.0, 93.0),
        Family("h264", h264_like, "quantizer step", 0.0, 24.0, 48.0, 80.0),
        Family("low_light", low_light, "darkness 0..1", 0.0, 0.6, 0.8, 0.9),
        Family("backlight", backlight, "amount 0..1", 0.0, 0.4, 0.6, 0.8),
        Family("occlusion_band", occlusion_band, "area fraction", 0.0, 0.25, 0.35, 0.5),
        Family("occlusion_block", occlusion_block, "area fraction", 0.0, 0.25, 0.35, 0.5),
        Family("occlusion_mask", occlusion_mask, "area fraction", 0.0, 0.25, 0.35, 0.5),
        Family("occlusion_sunglasses", occlusion_sunglasses, "area fraction", 0.0, 0.25, 0.35, 0.5),
        Family("crop_jitter", crop_jitter, "amount", 0.0, 0.05, 0.1, 0.2),
    )
}


def parse_conditions(spec: str) -> list[tuple[str, str]]:
    """``all`` or ``NAME[:LEVEL],...`` -> [(family, level)]; a bare NAME means every level.

    Raises ``ValueError`` naming the unknown family or level and the valid choices.
    """
    out: list[tuple[str, str]] = []
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise ValueError("empty condition list; use 'all' or NAME[:LEVEL],...")
    for item in items:
        if item == "all":
            out.extend((f, lv) for f in FAMILIES for lv in LEVELS)
            continue
        name, _, level = item.partition(":")
        if name not in FAMILIES:
            raise ValueError(f"unknown condition {name!r}; use all or one of {', '.join(FAMILIES)}")
        if level and level not in LEVELS:
            raise ValueError(f"{item!r}: unknown level {level!r}; use one of {', '.join(LEVELS)}")
        out.extend((name, lv) for lv in ([level] if level else LEVELS))
    return list(dict.fromkeys(out))


def random_condition(
    img: Gray,
    rng: np.random.Generator,
    power: float = 1.0,
    weights: Mapping[str, float] | None = None,
) -> Gray:
    """Training augmentation: a random family at a strength ``none + (severe - none) * u**power``
    with ``u`` uniform in [0, 1): uniform between the ``none`` and ``severe`` levels for
    ``power`` 1, weighted towards the mild end for ``power`` > 1. ``weights`` (family name ->
    relative weight, 1 for a family not named; see :func:`family_weights`) makes some families
    likelier than others; without it every family is equally likely."""
    families = list(FAMILIES.values())
    if weights is None:  # the original draw, kept bit for bit (reproducible earlier runs)
        family = families[int(rng.integers(len(FAMILIES)))]
    else:
        w = np.array([float(weights.get(name, 1.0)) for name in FAMILIES])
        family = families[int(rng.choice(len(families), p=w / w.sum()))]
    if power == 1.0:  # the original draw, kept bit for bit (reproducible earlier runs)
        strength = rng.uniform(min(family.none, family.severe), max(family.none, family.severe))
    else:
        strength = family.none + (family.severe - family.none) * rng.uniform(0.0, 1.0) ** power
    return family.fn(img, float(strength), rng)


def family_weights(text: str) -> dict[str, float]:
    """Parse ``"gaussian_blur=3,resolution=2"`` into family weights for :func:`random_condition`;
    a ValueError names the bad part and the valid family names."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if name not in FAMILIES:
            raise ValueError(
                f"family weights {text!r}: unknown family {name!r}; use one of "
                f"{', '.join(FAMILIES)}"
            )
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            weight = float("nan")
        if not (math.isfinite(weight) and weight >= 0.0):
            raise ValueError(
                f"family weights {text!r}: {part!r} needs a weight >= 0, as in {name}=2"
            )
        out[name] = weight
    if not out:
        raise ValueError(f"family weights {text!r}: empty; give NAME=WEIGHT pairs, as in noise=2")
    if sum(out.get(name, 1.0) for name in FAMILIES) <= 0.0:
        raise ValueError(f"family weights {text!r}: every family has weight 0")
    return out
