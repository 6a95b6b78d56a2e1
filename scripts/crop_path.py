"""The crop path on labelled detector crops: margin, alignment, interpolation, face size (issue 21).

Usage: python scripts/crop_path.py [--data ../shared/data/ferplus/valid.npz] [--faces N]
       [--seed 21] [--sizes 20,28,40,64,96,160] [--source 192] [--canvas 2.5]
       [--border replicate|grey] [--noise SIGMA] [--extra margin=0.2,shrink=area ...]
       [--limit N] [--json] [--save PROBS.npz]
       python scripts/crop_path.py --timing 2000   (ms per face of each crop path)
       python scripts/crop_path.py --compare PROBS.npz default enlarge=cubic   (paired B - A)

`edge eval` feeds 48x48 FER crops straight into the model; the runtime never sees one. Here each
FER+ face (all of them, or ``--faces`` drawn with ``--seed``; ``--limit`` keeps the first N for a
quick run) becomes a synthetic frame: the 48 px face enlarged to ``--source`` px (cubic), put in
a canvas ``--canvas`` times the face size (border: replicated edge pixels or the face's mean grey),
then the whole canvas area-resized so that the face is S px wide (``--noise``: camera-like
Gaussian noise added at the frame's own pixels, which an upsampled face lacks). The runtime's
own detector (default config, one thread) finds the face (a hit: IoU >= 0.3 with the face's
square) and the runtime's own crop path (``ExpressionClassifier.classify_faces`` on the RGB
frame, flip TTA as configured) classifies it, once per crop setting:

- ``default``: the configured margin, eye-line alignment, bilinear warp both ways;
- ``margin=M``: another margin; ``axis-aligned``: no eye-line rotation;
- ``shrink=area``: the anti-aliased shrink (bilinear to k*48 px, then k x k area average);
- ``enlarge=cubic``: bicubic warp for faces smaller than the crop; ``--extra`` adds settings.

Per setting and S: detection rate, and on the detected faces top-1 against the FER+ majority,
macro-F1, ECE (15 bins), and the share error (mean L1 of 500 windows of 20 detected faces against
the crowd's votes, seed 21; ``edge/tools/eval/shares.py``). ``reference`` is the plain 48x48 crop
(no detector, as ``edge eval`` feeds it) on the same detected faces: the ceiling. Caveat: a 160 px
face here is a 48 px face upsampled, band-limited, so aliasing costs less than on a real 160 px
face; gains of the anti-aliased shrink measured here are a lower bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.aggregation.shares import soften
from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.classifier import ExpressionClassifier
from edge.tools.eval.data import DataError, load_dataset, subset
from edge.tools.eval.metrics import confusion_matrix, expected_calibration_error, macro_f1, top1
from edge.tools.eval.shares import share_error, window_indices
from edge.types import Box, Detection

WINDOW_FACES = 20
WINDOWS = 500


def parse_setting(text: str) -> dict[str, Any]:
    """``margin=0.2,shrink=area,align=0`` -> classifier keyword arguments."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key == "margin":
            out["margin"] = float(value)
        elif key == "align":
            out["align"] = value not in ("0", "off", "false")
        elif key in ("shrink", "enlarge"):
            out[key] = value
        else:
            raise ValueError(
                f"--extra {text!r}: unknown key {key!r} (margin, align, shrink, enlarge)"
            )
    return out


def settings(margin: float, extra: list[str]) -> dict[str, dict[str, Any]]:
    """Name -> classifier keyword arguments; each changes one thing from ``default``."""
    base: dict[str, Any] = {
        "margin": margin,
        "align": True,
        "shrink": "linear",
        "enlarge": "linear",
    }
    out = {"default": dict(base)}
    for m in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
        if m != margin:
            out[f"margin={m}"] = {**base, "margin": m}
    out["axis-aligned"] = {**base, "align": False}
    out["shrink=area"] = {**base, "shrink": "area"}
    out["enlarge=cubic"] = {**base, "enlarge": "cubic"}
    out["shrink=area,enlarge=cubic"] = {**base, "shrink": "area", "enlarge": "cubic"}
    for text in extra:
        out[text] = {**base, **parse_setting(text)}
    return out


def frame_of(
    face: np.ndarray, args: argparse.Namespace, s: int, rng: np.random.Generator
) -> np.ndarray:
    """RGB frame with ``face`` enlarged to ``--source`` px in a canvas, all resized so it is
    ``s`` px wide; with ``--noise``, Gaussian noise of that sigma added at the frame's pixels."""
    source = args.source
    big = cv2.resize(face, (source, source), interpolation=cv2.INTER_CUBIC)
    pad = round((args.canvas - 1.0) * source / 2.0)
    if args.border == "replicate":
        full = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    else:
        grey = round(float(face.mean()))
        full = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=grey)
    f = s / source
    small = cv2.resize(full, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    if args.noise > 0:
        noisy = small + rng.normal(0.0, args.noise, small.shape)
        small = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_GRAY2RGB))


def scores(
    probs: np.ndarray, labels: np.ndarray, votes: np.ndarray, share_factor: float = 1.0
) -> dict[str, Any]:
    """top-1, macro-F1, ECE on the labelled rows; share L1 on 20-face windows of the voted, the
    shares softened by ``share_factor`` as the aggregation publishes them."""
    lab = labels >= 0
    cm = confusion_matrix(labels[lab], probs[lab].argmax(axis=1), probs.shape[1])
    voted = np.flatnonzero(~np.isnan(votes).any(axis=1))
    share: dict[str, Any] | None = None
    if len(voted) >= WINDOW_FACES:
        windows = window_indices(len(voted), WINDOW_FACES, WINDOWS, 21)
        shares = soften(probs[voted], share_factor)
        share = share_error(shares, votes[voted], windows).as_dict()
    return {
        "n": int(lab.sum()),
        "top1": top1(cm) if lab.any() else None,
        "macro_f1": macro_f1(cm) if lab.any() else None,
        "ece": expected_calibration_error(probs[lab], labels[lab]) if lab.any() else None,
        "share_l1": None if share is None else share["mean_l1"],
        "share_prior_l1": None if share is None else share["prior_mean_l1"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    cv2.setNumThreads(1)
    base = Config()
    config = base.model_copy(
        update={
            "detector": base.detector.model_copy(update={"threads": 1}),
            "classifier": base.classifier.model_copy(update={"threads": 1}),
        }
    )
    analyzer = FaceAnalyzer.from_config(config)
    spec = analyzer.classifier.spec
    flip = analyzer.classifier.flip_tta
    factor = analyzer.classifier.share_factor  # shares scored as the aggregation publishes them
    named = settings(config.classifier.margin, args.extra)
    classifiers = {
        name: ExpressionClassifier(spec, threads=1, flip_tta=flip, **kw)
        for name, kw in named.items()
    }
    data = load_dataset(args.data, spec.labels)
    if args.faces is not None:
        data = subset(data, args.faces, args.seed)
    n = len(data) if args.limit is None else min(args.limit, len(data))
    votes = data.votes if data.votes is not None else np.full((len(data), len(spec.labels)), np.nan)
    sizes = [int(s) for s in args.sizes.split(",")]
    k = len(spec.labels)
    ref = np.zeros((n, k), np.float32)
    probs = {s: {name: np.zeros((n, k), np.float32) for name in named} for s in sizes}
    found = {s: np.zeros(n, bool) for s in sizes}
    box_ratio: dict[int, list[float]] = {s: [] for s in sizes}
    box_short: dict[int, list[float]] = {s: [] for s in sizes}
    t0 = time.perf_counter()
    for i in range(n):
        face = data.images[i]
        ref[i] = analyzer.classifier.classify_crop(face)
        pad = round((args.canvas - 1.0) * args.source / 2.0)
        for s in sizes:
            rgb = frame_of(face, args, s, np.random.default_rng([args.seed, i, s]))
            off = pad * s / args.source
            target = Box(off, off, off + s, off + s)
            dets = analyzer.detect(rgb)
            best = max(dets, key=lambda d: d.box.iou(target), default=None)
            if best is None or best.box.iou(target) < 0.3:
                continue
            found[s][i] = True
            box_ratio[s].append(max(best.box.width, best.box.height) / s)
            box_short[s].append(min(best.box.width, best.box.height))
            for name, clf in classifiers.items():
                probs[s][name][i] = clf.classify_faces(rgb, [best])[0]
    elapsed = time.perf_counter() - t0
    if args.save is not None:
        arrays = {"reference": ref, "labels": data.labels[:n], "votes": votes[:n],
                  "share_factor": np.float64(factor)}  # fmt: skip
        for s in sizes:
            arrays[f"found_{s}"] = found[s]
            for name in named:
                arrays[f"probs_{s}_{name}"] = probs[s][name]
        np.savez_compressed(args.save, **arrays)
    labels, votes = data.labels[:n], votes[:n]
    per_size: dict[str, Any] = {}
    for s in sizes:
        hit = found[s]
        rows = {"reference": scores(ref[hit], labels[hit], votes[hit], factor)}
        for name in named:
            rows[name] = scores(probs[s][name][hit], labels[hit], votes[hit], factor)
        per_size[str(s)] = {
            "detected": float(hit.mean()) if n else None,
            "detected_n": int(hit.sum()),
            "box_side_over_face": float(np.median(box_ratio[s])) if box_ratio[s] else None,
            "box_short_side_px": float(np.median(box_short[s])) if box_short[s] else None,
            "rows": rows,
        }
    return {
        "data": str(args.data),
        "faces": n,
        "seed": args.seed,
        "source_px": args.source,
        "canvas": args.canvas,
        "border": args.border,
        "noise": args.noise,
        "model": config.classifier.model,
        "flip_tta": flip,
        "share_factor": factor,
        "settings": named,
        "seconds": round(elapsed, 1),
        "reference_all": scores(ref, labels, votes, factor),
        "sizes": per_size,
    }


def timing(reps: int) -> str:
    """Median and p95 ms of one ``crop_into`` (warp + grey) per face side and crop setting, on a
    1280x720 RGB frame, one thread."""
    cv2.setNumThreads(1)
    spec = FaceAnalyzer.from_config(Config()).classifier.spec
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    modes = {"linear/linear": ("linear", "linear"), "area/linear": ("area", "linear"),
             "linear/cubic": ("linear", "cubic"), "area/cubic": ("area", "cubic")}  # fmt: skip
    lines = ["| face box px | " + " | ".join(f"{m} p50 / p95 ms" for m in modes) + " |",
             "|---|" + "---|" * len(modes)]  # fmt: skip
    for side in (24, 40, 64, 96, 160, 240, 400):
        x0, y0 = 400.0, 150.0
        det = Detection(
            Box(x0, y0, x0 + side, y0 + side),
            0.9,
            (x0 + 0.7 * side, y0 + 0.38 * side),
            (x0 + 0.3 * side, y0 + 0.35 * side),
        )
        cells = []
        for shrink, enlarge in modes.values():
            clf = ExpressionClassifier(spec, threads=1, margin=0.1, shrink=shrink, enlarge=enlarge)
            for _ in range(50):
                clf.crop_into(frame, det, 0)
            ms = np.empty(reps)
            for i in range(reps):
                t0 = time.perf_counter()
                clf.crop_into(frame, det, 0)
                ms[i] = (time.perf_counter() - t0) * 1000.0
            cells.append(f"{np.median(ms):.3f} / {np.percentile(ms, 95):.3f}")
        lines.append(f"| {side} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _diffs(
    pair: tuple[np.ndarray, ...], li: np.ndarray, vi: np.ndarray, seed: int, factor: float = 1.0
) -> tuple[float, float]:
    """(top-1 of b - top-1 of a on rows ``li``, share L1 of b - of a on 500 windows of 20 of the
    rows ``vi``, drawn with ``seed``, shares softened by ``factor``; NaN when they cannot fill a
    window)."""
    a, b, y, v = pair
    top = (b[li].argmax(1) == y[li]).mean() - (a[li].argmax(1) == y[li]).mean()
    if len(vi) < WINDOW_FACES:
        return float(top), float("nan")  # too few faces for one window
    win = window_indices(len(vi), WINDOW_FACES, WINDOWS, seed)
    av, bv, vv = soften(a[vi], factor), soften(b[vi], factor), v[vi]
    share = share_error(bv, vv, win).mean_l1 - share_error(av, vv, win).mean_l1
    return float(top), float(share)


def compare(path: Path, first: str, second: str, draws: int = 400) -> str:
    """Paired difference ``second - first`` per face size from a ``--save`` file: top-1 and share
    L1 (500 windows of 20 voted faces, seed 21), with a 95 % interval from ``draws`` half-samples
    of the detected faces drawn without replacement (whose spread around the full-set value is
    that of the full-set estimate; each with its own windows, so window choice counts too)."""
    data = np.load(path)
    labels, votes = data["labels"], data["votes"]
    factor = float(data["share_factor"]) if "share_factor" in data.files else 1.0
    sizes = sorted(int(k.split("_")[1]) for k in data.files if k.startswith("found_"))
    rng = np.random.default_rng(21)
    lines = [f"{second} - {first} (paired; 95 % half-sample interval, {draws} draws)", "",
             "| face px | faces | top-1 diff | share L1 diff |", "|---|---|---|---|"]  # fmt: skip
    for s in sizes:
        hit = data[f"found_{s}"]
        y, v = labels[hit], votes[hit]
        pair = (data[f"probs_{s}_{first}"][hit], data[f"probs_{s}_{second}"][hit], y, v)
        lab = np.flatnonzero(y >= 0)
        voted = np.flatnonzero(~np.isnan(v).any(axis=1))
        top, share = _diffs(pair, lab, voted, 21, factor)
        half = [
            _diffs(
                pair,
                rng.choice(lab, len(lab) // 2, replace=False),
                rng.choice(voted, len(voted) // 2, replace=False),
                100 + i,
                factor,
            )
            for i in range(draws)
        ]
        lo, hi = np.percentile(np.array(half), [2.5, 97.5], axis=0)
        lines.append(f"| {s} | {len(lab)} | {top:+.4f} [{lo[0]:+.4f}, {hi[0]:+.4f}] "
                     f"| {share:+.4f} [{lo[1]:+.4f}, {hi[1]:+.4f}] |")  # fmt: skip
    return "\n".join(lines)


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(r: dict[str, Any]) -> str:
    sizes = list(r["sizes"])
    names = ["reference", *r["settings"]]
    ra = r["reference_all"]
    lines = [
        f"{r['faces']} FER+ faces ({r['data']}), {r['model']}, flip TTA "
        f"{r['flip_tta']}; face enlarged to {r['source_px']} px in a {r['canvas']}x canvas "
        f"({r['border']} border, noise sigma {r['noise']}); {r['seconds']} s. Plain 48x48 "
        f"crops of all faces: top-1 "
        f"{_f(ra['top1'])}, share L1 {_f(ra['share_l1'])}.",
        "",
        "| face px | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(sizes),
        "| detected | " + " | ".join(_f(r["sizes"][s]["detected"]) for s in sizes) + " |",
        "| box side / face | "
        + " | ".join(_f(r["sizes"][s]["box_side_over_face"], 2) for s in sizes)
        + " |",
        "| box shorter side px (median) | "
        + " | ".join(_f(r["sizes"][s]["box_short_side_px"], 1) for s in sizes)
        + " |",
    ]
    for metric, title in (("top1", "top-1"), ("share_l1", "share L1 (votes)"),
                          ("macro_f1", "macro-F1"), ("ece", "ECE")):  # fmt: skip
        lines += ["", f"**{title}** on the detected faces", "",
                  "| setting | " + " | ".join(f"{s} px" for s in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]  # fmt: skip
        for name in names:
            cells = [_f(r["sizes"][s]["rows"][name][metric]) for s in sizes]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ferplus/valid.npz"))
    parser.add_argument("--faces", type=int, help="draw this many faces with --seed (default all)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--limit", type=int, help="only the first N drawn faces (quick run)")
    parser.add_argument("--sizes", default="20,28,40,64,96,160")
    parser.add_argument("--source", type=int, default=192, help="face px before the resize")
    parser.add_argument("--canvas", type=float, default=2.5, help="canvas side / face side")
    parser.add_argument("--border", choices=("replicate", "grey"), default="replicate")
    parser.add_argument("--noise", type=float, default=0.0, help="frame noise sigma (grey)")
    parser.add_argument("--extra", action="append", default=[], help="margin=M,shrink=area,...")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write every face's probabilities (.npz)")
    parser.add_argument("--timing", type=int, metavar="REPS", help="only time the crop paths")
    parser.add_argument("--compare", nargs=3, metavar=("PROBS.npz", "A", "B"),
                        help="only the paired difference B - A from a --save file")  # fmt: skip
    args = parser.parse_args(argv)
    if args.compare:
        print(compare(Path(args.compare[0]), args.compare[1], args.compare[2]))
        return 0
    if args.timing:
        print(timing(args.timing))
        return 0
    try:
        for text in args.extra:
            parse_setting(text)
        result = run(args)
    except (DataError, ValueError) as exc:
        print(f"crop_path: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
