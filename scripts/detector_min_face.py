"""Smallest face the detector finds reliably, in pixels of the detector's input.

Each annotated photo of ``../shared/data/scenes`` is shrunk by a series of factors and pasted
on a black canvas of its own size (so the detector's input scale stays the same, tiles 1), and
every annotated face is matched (IoU >= 0.3) as in ``detector_recall.py``. Faces are binned by
their shorter side in detector-input pixels (side * input / longest frame side); the output is
the recall per bin and the smallest bin from which recall stays >= 0.9. ``edge setup`` converts
that number to frame pixels for the configured frame size and tiling.

Usage::

    python scripts/detector_min_face.py ../shared/data/scenes
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.types import Box

SCALES = (1.0, 0.8, 0.65, 0.5, 0.4, 0.32, 0.25, 0.2, 0.16, 0.12)
BINS = (4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    doc = Config().model_dump()
    doc["detector"]["tiles"] = 1
    detector = FaceAnalyzer.from_config(Config.model_validate(doc)).detector
    side = detector.spec.input_shape[1] if hasattr(detector.spec, "input_shape") else 192
    annotations = json.loads((args.folder / "boxes.json").read_text())["images"]
    hits: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for name, boxes in sorted(annotations.items()):
        if not boxes:
            continue
        rgb = cv2.cvtColor(cv2.imread(str(args.folder / name)), cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        for scale in SCALES:
            small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
            canvas = np.zeros_like(rgb)
            canvas[: small.shape[0], : small.shape[1]] = small
            detections = list(detector.detect(canvas))
            for x, y, w, h in boxes:
                truth = Box(x * scale, y * scale, (x + w) * scale, (y + h) * scale)
                size = min(w, h) * scale * side / max(width, height)
                best = max(detections, key=lambda d: d.box.iou(truth), default=None)
                found = best is not None and best.box.iou(truth) >= 0.3
                if found and best is not None:
                    detections.remove(best)
                bin_low = max(b for b in (0, *BINS) if b <= size)
                hits[bin_low][0] += int(found)
                hits[bin_low][1] += 1
    reliable = None
    for low in sorted(hits, reverse=True):
        found, total = hits[low]
        if total and found / total < 0.9:
            break
        reliable = low
    for low in sorted(hits):
        found, total = hits[low]
        print(f"face >= {low:4d} px in the {side} px input: {found:3d}/{total:3d} found")
    print(f"reliable (recall >= 0.9 in every larger bin): >= {reliable} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
