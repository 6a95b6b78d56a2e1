"""Real small faces: detector crops from scene photos, as `edge detect` cuts them (issue 21).

Usage: python scripts/small_faces.py [--scenes ../shared/data/scenes] [--config F] [--model ID]
       [--sizes 40,32,24,20,16] [--jitters 10] [--shrink linear|area] [--enlarge linear|cubic]
       [--json]

The scene photos carry no expression labels, so this measures what can be measured honestly:

1. **Face sizes**: the detector's faces at full resolution (box side, px), through the default
   detector config and the runtime's crop path (`FaceAnalyzer`, alignment, margin, flip TTA).
2. **Smaller faces**: for every face larger than S px, the whole photo is area-downscaled so that
   the face is S px wide, then detected and classified again. Reported per S: the share of faces
   still found (IoU >= 0.3 with the scaled full-resolution box), and for those, how often the
   answer (argmax) equals the answer on the full-resolution face and the mean L1 between the two
   probability vectors. "Agrees with itself at full size" is not "correct": it is stability.
3. **Crop jitter**: every full-resolution detection is moved as a wobbling detector box would
   move it (shift up to a of the box side, scale exp(+-a), rotation of the eye line +-100 a deg;
   `--jitters` draws per face, seed 21) and classified again: agreement and L1 as above.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config import Config, load
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.classifier import ENLARGE_MODES, SHRINK_MODES, ExpressionClassifier
from edge.types import Box, Detection

SUFFIXES = {".jpg", ".jpeg", ".png"}


def scaled(box: Box, s: float) -> Box:
    """``box`` in a frame resized by ``s``."""
    return Box(box.x0 * s, box.y0 * s, box.x1 * s, box.y1 * s)


def jittered(d: Detection, a: float, rng: np.random.Generator) -> Detection:
    """``d`` shifted, scaled and rotated (eye points included) by a random amount up to ``a``."""
    cx, cy = d.box.center
    side = max(d.box.width, d.box.height)
    dx, dy = rng.uniform(-a, a, size=2) * side
    scale = math.exp(rng.uniform(-a, a))
    angle = math.radians(rng.uniform(-100.0, 100.0) * a)
    cos, sin = math.cos(angle), math.sin(angle)

    def move(x: float, y: float) -> tuple[float, float]:
        u, v = (x - cx) * scale, (y - cy) * scale
        return cx + dx + cos * u - sin * v, cy + dy + sin * u + cos * v

    hw, hh = d.box.width * scale / 2, d.box.height * scale / 2
    box = Box(cx + dx - hw, cy + dy - hh, cx + dx + hw, cy + dy + hh)
    return Detection(box, d.score, move(*d.left_eye), move(*d.right_eye))


def _stats(agree: list[bool], l1: list[float]) -> dict[str, Any]:
    return {
        "n": len(agree),
        "agreement": float(np.mean(agree)) if agree else None,
        "mean_l1": float(np.mean(l1)) if l1 else None,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load(args.config) if args.config else Config()
    if args.model:
        config = config.model_copy(
            update={"classifier": config.classifier.model_copy(update={"model": args.model})}
        )
    analyzer = FaceAnalyzer.from_config(config)
    if args.shrink or args.enlarge:  # another crop path, else the runtime's defaults
        crop = {"shrink": args.shrink, "enlarge": args.enlarge}
        analyzer = FaceAnalyzer(
            analyzer.detector,
            ExpressionClassifier(
                analyzer.classifier.spec,
                threads=config.classifier.threads,
                margin=config.classifier.margin,
                flip_tta=config.classifier.flip_tta,
                **{k: v for k, v in crop.items() if v},
            ),
        )
    sizes = [int(s) for s in args.sizes.split(",")]
    amounts = [0.05, 0.1, 0.2]
    rng = np.random.default_rng(21)
    face_sides: list[float] = []
    small: dict[int, dict[str, list[Any]]] = {
        s: {"found": [], "agree": [], "l1": []} for s in sizes
    }
    jit: dict[float, dict[str, list[Any]]] = {a: {"agree": [], "l1": []} for a in amounts}
    files = sorted(p for p in args.scenes.iterdir() if p.suffix.lower() in SUFFIXES)
    for path in files:
        bgr = cv2.imread(str(path))
        if bgr is None:
            continue
        rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        faces = analyzer.analyze(rgb)
        for face in faces:
            ref = np.asarray(face.probs)
            side = max(face.detection.box.width, face.detection.box.height)
            face_sides.append(side)
            for s in sizes:
                if side <= s:
                    continue
                f = s / side
                img = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
                target = scaled(face.detection.box, f)
                dets = analyzer.detect(np.ascontiguousarray(img))
                best = max(dets, key=lambda d: d.box.iou(target), default=None)
                hit = best is not None and best.box.iou(target) >= 0.3
                small[s]["found"].append(hit)
                if hit and best is not None:
                    p = analyzer.classify(np.ascontiguousarray(img), [best])[0]
                    small[s]["agree"].append(bool(p.argmax() == ref.argmax()))
                    small[s]["l1"].append(float(np.abs(p - ref).sum()))
            for a in amounts:
                dets = [jittered(face.detection, a, rng) for _ in range(args.jitters)]
                probs = analyzer.classify(rgb, dets)
                jit[a]["agree"] += [bool(p.argmax() == ref.argmax()) for p in probs]
                jit[a]["l1"] += [float(np.abs(p - ref).sum()) for p in probs]
    sides = np.asarray(face_sides)
    spec = analyzer.classifier
    return {
        "scenes": str(args.scenes),
        "images": len(files),
        "model": config.classifier.model,
        "flip_tta": spec.flip_tta,
        "faces": len(sides),
        "face_side_px": {
            "min": float(sides.min()) if len(sides) else None,
            "median": float(np.median(sides)) if len(sides) else None,
            "max": float(sides.max()) if len(sides) else None,
            "under_40": int((sides < 40).sum()),
            "under_24": int((sides < 24).sum()),
        },
        "smaller": {
            str(s): {
                "tried": len(v["found"]),
                "found": float(np.mean(v["found"])) if v["found"] else None,
                **_stats(v["agree"], v["l1"]),
            }
            for s, v in small.items()
        },
        "crop_jitter": {str(a): _stats(v["agree"], v["l1"]) for a, v in jit.items()},
    }


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def markdown(r: dict[str, Any]) -> str:
    fs = r["face_side_px"]
    lines = [
        f"{r['faces']} faces in {r['images']} photos ({r['model']}, flip TTA {r['flip_tta']}); "
        f"box side min / median / max {_f(fs['min'])} / {_f(fs['median'])} / {_f(fs['max'])} px, "
        f"{fs['under_40']} under 40 px, {fs['under_24']} under 24 px",
        "",
        "| face shrunk to | faces tried | still detected | same answer as full size "
        "| mean L1 to full size |",
        "|---|---|---|---|---|",
    ]
    for s, v in r["smaller"].items():
        lines.append(f"| {s} px | {v['tried']} | {_f(v['found'])} | {_f(v['agreement'])} "
                     f"| {_f(v['mean_l1'])} |")  # fmt: skip
    lines += ["", "| crop jitter a | crops | same answer | mean L1 |", "|---|---|---|---|"]
    for a, v in r["crop_jitter"].items():
        lines.append(f"| {a} | {v['n']} | {_f(v['agreement'])} | {_f(v['mean_l1'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, default=Path("../shared/data/scenes"))
    parser.add_argument("--config", type=Path, help="config file (models.dir, classifier)")
    parser.add_argument("--model", help="classifier id (default: the configured default)")
    parser.add_argument("--sizes", default="40,32,24,20,16")
    parser.add_argument("--jitters", type=int, default=10)
    parser.add_argument("--shrink", choices=SHRINK_MODES, help="crop shrink (default: runtime's)")
    parser.add_argument("--enlarge", choices=list(ENLARGE_MODES), help="crop enlarge (ditto)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.scenes.is_dir():
        print(f"--scenes {args.scenes}: not a folder of photos", file=sys.stderr)
        return 2
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
