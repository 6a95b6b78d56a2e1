"""Regenerate edge/data/sample.mp4, the synthetic clip that `edge demo` analyses.

The only photo used is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain),
shipped in the scikit-image wheel. Four copies of the head (scaled, mirrored, dimmed, tilted)
enter and leave a plain background at different times, so the demo sees several distinct
tracks, varied dwell times, and windows both above and below k. Deterministic: the same
scikit-image and OpenCV versions give the same frames.

    pip install -e '.[sample]' && python scripts/make_sample.py
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "edge" / "data" / "sample.mp4"
WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 10, 12


@dataclass(frozen=True)
class Person:
    enter_s: float
    leave_s: float
    x0: float
    x1: float
    y: float
    scale: float
    mirror: bool = False
    gain: float = 1.0
    tilt_deg: float = 0.0


PEOPLE = (
    Person(0.0, 11.0, 40, 160, 60, 0.85),
    Person(0.5, 7.0, 430, 380, 40, 0.7, mirror=True),
    Person(1.0, 12.0, 250, 300, 170, 0.6, gain=0.8),
    Person(6.0, 12.0, 520, 470, 180, 0.65, tilt_deg=8.0),
)


def head() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's head and shoulders (RGB) and a feathered elliptical alpha mask."""
    patch = data.astronaut()[20:250, 120:335].astype(np.float32)
    h, w = patch.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 6, h // 2 - 6), 0, 0, 360, 1.0, -1)
    return patch, cv2.GaussianBlur(mask, (0, 0), 5)


def render(t_s: float, patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ramp = np.linspace(70, 150, WIDTH, dtype=np.float32)
    frame = np.repeat(np.repeat(ramp[None, :, None], HEIGHT, 0), 3, 2)
    for p in PEOPLE:
        if not p.enter_s <= t_s < p.leave_s:
            continue
        f = (t_s - p.enter_s) / (p.leave_s - p.enter_s)
        img, alpha = patch * p.gain, mask
        if p.mirror:
            img, alpha = img[:, ::-1], alpha[:, ::-1]
        size = (int(img.shape[1] * p.scale), int(img.shape[0] * p.scale))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        if p.tilt_deg:
            rot = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), p.tilt_deg, 1.0)
            img = cv2.warpAffine(img, rot, size, borderMode=cv2.BORDER_REFLECT)
            alpha = cv2.warpAffine(alpha, rot, size)
        x = int(p.x0 + (p.x1 - p.x0) * f)
        y = int(p.y)
        h, w = min(size[1], HEIGHT - y), min(size[0], WIDTH - x)
        a = alpha[:h, :w, None]
        frame[y : y + h, x : x + w] = a * img[:h, :w] + (1 - a) * frame[y : y + h, x : x + w]
    return np.clip(frame, 0, 255).astype(np.uint8)


def main() -> None:
    patch, mask = head()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(OUT), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for i in range(FPS * SECONDS):
        writer.write(cv2.cvtColor(render(i / FPS, patch, mask), cv2.COLOR_RGB2BGR))
    writer.release()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
