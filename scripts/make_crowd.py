"""Build a test clip from photos of ``../shared/data/scenes``: a grid of photos, each panning a
few pixels back and forth, written as an MP4 (at test or benchmark time, into a temporary
folder: shared data is never copied into the repository).

Presets (faces = annotated faces in ``boxes.json``):

- ``crowd``: 4 photos, 2 x 2, 1000 x 750, 27 faces (7 + 7 + 7 + 6)
- ``ten``: 4 photos, 2 x 2, 1000 x 750, 10 faces (3 + 2 + 2 + 3)
- ``three``: 1 photo, 640 x 480, 3 faces
- ``one``: the top of 1 photo, 640 x 480, 1 face

A photo written ``name@x0,y0,x1,y1`` is cropped to that rectangle first.

Usage::

    python scripts/make_crowd.py /tmp/crowd.mp4                     # preset crowd, 12 s, 10 fps
    python scripts/make_crowd.py /tmp/three.mp4 --preset three --seconds 6
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

SCENES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scenes"

#: preset -> (photos, columns, rows, width, height)
PRESETS: dict[str, tuple[tuple[str, ...], int, int, int, int]] = {
    "crowd": (
        ("2007_007763.jpg", "2008_004176.jpg", "2008_007676.jpg", "2008_002079.jpg"),
        2, 2, 1000, 750,
    ),
    "ten": (
        ("2008_001322.jpg", "2008_001009.jpg", "2009_004587.jpg", "2008_002506.jpg"),
        2, 2, 1000, 750,
    ),
    "three": (("2008_001322.jpg",), 1, 1, 640, 480),
    "one": (("2009_004587.jpg@0,0,400,250",), 1, 1, 640, 480),
}  # fmt: skip

#: Pan amplitude (pixels of the cell) and period (seconds) of each cell's motion.
PAN_PX, PAN_PERIOD_S = 6.0, 4.0


def _split(photo: str) -> tuple[str, tuple[int, int, int, int] | None]:
    name, _, rect = photo.partition("@")
    if not rect:
        return name, None
    x0, y0, x1, y1 = (int(v) for v in rect.split(","))
    return name, (x0, y0, x1, y1)


def annotated_faces(scenes: Path, photos: tuple[str, ...]) -> int:
    """Annotated faces in ``photos`` (centre inside the crop) according to ``boxes.json``."""
    boxes = json.loads((scenes / "boxes.json").read_text())["images"]
    total = 0
    for photo in photos:
        name, rect = _split(photo)
        x0, y0, x1, y1 = rect or (0, 0, 1 << 30, 1 << 30)
        for left, top, w, h in boxes[name] or []:
            total += x0 <= left + w / 2 < x1 and y0 <= top + h / 2 < y1
    return total


def cells(scenes: Path, preset: str) -> list[np.ndarray]:
    """Each photo of ``preset`` letterboxed (grey) into its cell of the grid, BGR."""
    photos, cols, rows, width, height = PRESETS[preset]
    cw, ch = width // cols, height // rows
    out = []
    for photo in photos:
        name, rect = _split(photo)
        bgr = cv2.imread(str(scenes / name))
        if bgr is None:
            raise SystemExit(f"cannot read {scenes / name}")
        if rect is not None:
            bgr = bgr[rect[1] : rect[3], rect[0] : rect[2]]
        scale = min(cw / bgr.shape[1], ch / bgr.shape[0])
        small = cv2.resize(bgr, (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        cell = np.full((ch, cw, 3), 96, np.uint8)
        y0, x0 = (ch - small.shape[0]) // 2, (cw - small.shape[1]) // 2
        cell[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
        out.append(cell)
    return out


def build(out: Path, preset: str, *, seconds: float, fps: float, scenes: Path = SCENES) -> int:
    """Write the clip; returns the number of annotated faces in it."""
    photos, cols, rows, width, height = PRESETS[preset]
    grid = cells(scenes, preset)
    cw, ch = width // cols, height // rows
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {out}")
    frame = np.full((height, width, 3), 96, np.uint8)
    for index in range(round(seconds * fps)):
        t = index / fps
        for k, cell in enumerate(grid):
            phase = 2 * math.pi * (t / PAN_PERIOD_S + k / len(grid))
            shift = np.float32([[1, 0, PAN_PX * math.sin(phase)], [0, 1, PAN_PX * math.cos(phase)]])
            r, c = divmod(k, cols)
            moved = cv2.warpAffine(cell, shift, (cw, ch), borderMode=cv2.BORDER_REPLICATE)
            frame[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = moved
        writer.write(frame)
    writer.release()
    return annotated_faces(scenes, photos)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="crowd")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--scenes", type=Path, default=SCENES)
    args = parser.parse_args(argv)
    faces = build(args.out, args.preset, seconds=args.seconds, fps=args.fps, scenes=args.scenes)
    print(f"{args.out}: preset {args.preset}, {faces} annotated faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
