"""Write degraded copies of an eval ``.npz`` (lighting, blur, small faces, occlusion) for
``edge eval``: a quick, reproducible probe of the failure modes listed in docs/model-card.md.

Usage::

    python scripts/make_degraded.py ../shared/data/fer2013/public_test.npz /tmp/degraded
    for f in /tmp/degraded/*.npz; do edge eval "$f" --json | jq -c '{top1: .overall.top1}'; done

Each output keeps ``labels`` and ``label_names``; only ``images`` change. Deterministic.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

Image = np.ndarray


def _dark(img: Image) -> Image:
    return (img.astype(np.float32) * 0.25).astype(np.uint8)  # underexposed, 2 stops


def _low_contrast(img: Image) -> Image:
    return (img.astype(np.float32) * 0.3 + 90).astype(np.uint8)  # haze / backlight


def _blur(img: Image) -> Image:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 1.5), dtype=np.uint8)  # focus / motion


def _small(img: Image) -> Image:
    h, w = img.shape
    tiny = cv2.resize(img, (w // 3, h // 3), interpolation=cv2.INTER_AREA)  # ~16 px face
    return np.asarray(cv2.resize(tiny, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def _eye_band(img: Image) -> Image:
    out = img.copy()
    h = img.shape[0]
    out[int(h * 0.28) : int(h * 0.45)] = 20  # dark glasses
    return out


def _lower_half(img: Image) -> Image:
    out = img.copy()
    out[img.shape[0] // 2 :] = 128  # mask, hand or scarf over mouth and chin
    return out


def _tilt(img: Image) -> Image:
    h, w = img.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)  # unaligned 20 degree roll
    return np.asarray(
        cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE), dtype=np.uint8
    )


DEGRADATIONS: dict[str, Callable[[Image], Image]] = {
    "dark": _dark,
    "low_contrast": _low_contrast,
    "blur": _blur,
    "small_16px": _small,
    "eye_band": _eye_band,
    "lower_half_occluded": _lower_half,
    "tilt_20deg": _tilt,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="grey N x H x W .npz (images, labels, ...)")
    parser.add_argument("out", type=Path, help="folder for <name>.npz files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with np.load(args.data, allow_pickle=False) as data:
        images, labels, names = data["images"], data["labels"], data["label_names"]
    for name, fn in DEGRADATIONS.items():
        degraded = np.stack([fn(img) for img in images])
        np.savez_compressed(args.out / f"{name}.npz", images=degraded, labels=labels,
                            label_names=names)  # fmt: skip
        print(args.out / f"{name}.npz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
