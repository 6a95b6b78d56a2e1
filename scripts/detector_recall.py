"""Face-detector recall on annotated photos (``../shared/data/scenes`` layout).

``boxes.json`` maps each image to hand-drawn faces ``[left, top, width, height]`` (``null`` =
not annotated, skipped). A face counts as found when an unused detection overlaps it with
IoU >= ``--iou`` (greedy, best IoU first per face); detections matching no face are false
positives. ``dogs.jpg`` holds no human face: every detection there is a false positive.

Usage::

    python scripts/detector_recall.py ../shared/data/scenes            # default detector config
    python scripts/detector_recall.py ../shared/data/scenes --tiles 2 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.types import Box, Detection


def match(detections: list[Detection], truths: list[Box], iou: float) -> tuple[int, int]:
    """(faces found, unmatched detections) with greedy best-IoU matching."""
    unused = list(detections)
    found = 0
    for truth in truths:
        best = max(unused, key=lambda d: d.box.iou(truth), default=None)
        if best is not None and best.box.iou(truth) >= iou:
            found += 1
            unused.remove(best)
    return found, len(unused)


def measure(folder: Path, config: Config, iou: float) -> dict[str, Any]:
    annotations = json.loads((folder / "boxes.json").read_text())["images"]
    detector = FaceAnalyzer.from_config(config).detector
    found = total = false_pos = 0
    per_image: dict[str, Any] = {}
    for name, boxes in sorted(annotations.items()):
        bgr = cv2.imread(str(folder / name))
        if bgr is None:
            raise SystemExit(f"{folder / name}: cannot read")
        rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        detections = detector.detect(rgb)
        if boxes is None:
            per_image[name] = {"detections": len(detections), "annotated": False}
            continue
        truths = [Box(x, y, x + w, y + h) for x, y, w, h in boxes]
        hit, extra = match(detections, truths, iou)
        found, total, false_pos = found + hit, total + len(truths), false_pos + extra
        per_image[name] = {"faces": len(truths), "found": hit, "false_positives": extra}
    return {
        "detector": detector.spec.short_id,
        "tiles": config.detector.tiles,
        "score_threshold": config.detector.score_threshold,
        "iou": iou,
        "found": found,
        "faces": total,
        "recall": round(found / total, 4) if total else None,
        "false_positives": false_pos,
        "images": per_image,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="folder with images and boxes.json")
    parser.add_argument("--iou", type=float, default=0.3)
    parser.add_argument("--tiles", type=int, help="detector.tiles (default: the config's)")
    parser.add_argument("--model", help="detector model id (default: the config's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    doc = Config().model_dump()
    if args.tiles is not None:
        doc["detector"]["tiles"] = args.tiles
    if args.model:
        doc["detector"]["model"] = args.model
    result = measure(args.folder, Config.model_validate(doc), args.iou)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['detector']} tiles={result['tiles']}: {result['found']}/{result['faces']} faces "
        f"at IoU >= {args.iou} (recall {result['recall']}), "
        f"{result['false_positives']} false positives"
    )
    for name, row in result["images"].items():
        print(f"  {name}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
