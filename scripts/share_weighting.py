"""Do confidence weighting or leaving out poor faces make window shares closer to the crowd?

Issue 21 item 4, measured on the robustness suite's synthetic windows (``edge eval
--conditions``: 500 windows of 20 distinct faces of ``ferplus/valid.npz``, truth = the mean of
the faces' crowd vote shares, error = L1). The published share is the mean of the faces'
probabilities softened by the model's share temperature factor (``edge.aggregation.shares``),
as the aggregation publishes them; the alternatives (weights over those) scored against it:

- ``conf``: faces weighted by their confidence (top-class probability), ``conf2`` by its square;
- ``drop_small``: faces seen at < 20 px left out (the runtime knows each box's size);
- ``drop_blur``: faces whose sharpness (variance of the Laplacian of the 48 px crop, computable
  at run time) is below the 10th percentile of the clean faces' left out;
- ``drop_both``: both. A window whose faces are all left out falls back to the mean.

The truth is always the crowd shares of **all** faces in the window (the people who were there).

Two settings: (1) every suite condition at mild and moderate strength (all faces of a window
share the condition, as in ``edge eval``; only weighting can matter there), (2) **mixed windows**:
each face clean with probability 0.5, otherwise one random family at a random level (mild,
moderate or severe), so a window mixes good and poor faces, as a room does.

Usage: python scripts/share_weighting.py [--model ID] [--seed 21] > share_weighting.md
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge.aggregation.shares import soften
from edge.config import Config
from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import bundled_models_dir, get_spec
from edge.tools.eval.conditions import FAMILIES, LEVELS
from edge.tools.eval.data import load_dataset
from edge.tools.eval.shares import window_indices

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ferplus" / "valid.npz"
Arr = np.ndarray


def sharpness(img: Arr) -> float:
    """Variance of the Laplacian of a grey crop (low = blurred or flat)."""
    return float(cv2.Laplacian(img.astype(np.float64), cv2.CV_64F).var())


def shares(probs: Arr, windows: Arr, weights: Arr) -> Arr:
    """Weighted mean of the faces' probabilities per window; all-zero weights -> plain mean."""
    w = weights[windows]
    w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
    out: Arr = (probs[windows] * w[..., None]).sum(axis=1) / w.sum(axis=1)[:, None]
    return out


def strategies(probs: Arr, size: Arr, sharp: Arr, blur_cut: float) -> dict[str, Arr]:
    conf = probs.max(axis=1)
    keep_size = (size >= 20).astype(float)
    keep_sharp = (sharp >= blur_cut).astype(float)
    return {
        "mean (published)": np.ones(len(probs)),
        "conf": conf,
        "conf2": conf**2,
        "drop_small": keep_size,
        "drop_blur": keep_sharp,
        "drop_both": keep_size * keep_sharp,
    }


def per_condition(
    faces: list[Arr],
    classify: Callable[[list[Arr]], Arr],
    err: Callable[[Arr, Arr], float],
    *,
    blur_cut: float,
    seed: int,
    names: list[str],
) -> None:
    """One table row per suite condition (clean + mild and moderate), one column per rule."""
    families = list(FAMILIES)
    rows: list[tuple[str, str, int]] = [("clean", "none", -1)]
    rows += [(f, lv, k) for k, f in enumerate(families) for lv in ("mild", "moderate")]
    sums = dict.fromkeys(names, 0.0)
    for f, lv, k in rows:
        if k < 0:
            imgs = list(faces)
        else:
            imgs = [
                FAMILIES[f].apply(x, lv, np.random.default_rng([seed, k, i]))
                for i, x in enumerate(faces)
            ]
        probs = classify(imgs)
        size = np.full(len(imgs), FAMILIES[f].level(lv) if f == "resolution" else 48.0)
        sharp = np.array([sharpness(x) for x in imgs])
        errs = {n: err(probs, w) for n, w in strategies(probs, size, sharp, blur_cut).items()}
        if k >= 0:
            for n in names:
                sums[n] += errs[n] / (len(rows) - 1)
        print(f"| {f} | {lv} | " + " | ".join(f"{errs[n]:.4f}" for n in names) + " |")
    print("| **mean of the 26** | | " + " | ".join(f"**{sums[n]:.4f}**" for n in names) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=Config().classifier.model)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    config = Config().classifier
    spec = get_spec(bundled_models_dir(), args.model, "classifier")
    clf = ExpressionClassifier(spec, threads=1, margin=0.0, flip_tta=config.flip_tta)
    data = load_dataset(DATA, spec.labels)
    assert data.votes is not None
    voted = np.flatnonzero(~np.isnan(data.votes).any(axis=1))
    faces = [np.asarray(data.images[i], np.uint8) for i in voted]
    truth = data.votes[voted]
    windows = window_indices(len(voted), 20, 500, args.seed + 1)
    true_shares = truth[windows].mean(axis=1)
    families = list(FAMILIES)

    def classify(imgs: list[Arr]) -> Arr:
        return np.asarray([clf.classify_crop(x) for x in imgs], np.float64)

    def err(probs: Arr, w: Arr) -> float:
        # the shares as the aggregation computes them: softened by the share factor
        published = soften(probs, clf.share_factor)
        return float(np.abs(shares(published, windows, w) - true_shares).sum(axis=1).mean())

    clean_sharp = np.array([sharpness(x) for x in faces])
    blur_cut = float(np.quantile(clean_sharp, 0.1))
    print(f"# Share error by aggregation rule ({spec.short_id}, flip TTA {config.flip_tta}, "
          f"share temperature factor {clf.share_factor:g})\n")  # fmt: skip
    print(f"{len(voted)} faces with votes, 500 windows of 20, seed {args.seed}; blur cut-off: "
          f"sharpness < {blur_cut:.1f} (10th percentile of the clean faces)\n")  # fmt: skip
    names = list(strategies(np.ones((1, 7)), np.ones(1), np.ones(1), 0.0))
    print("| condition | level | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    per_condition(faces, classify, err, blur_cut=blur_cut, seed=args.seed, names=names)

    rng = np.random.default_rng(args.seed + 7)
    imgs, size = [], np.full(len(faces), 48.0)
    for i, x in enumerate(faces):
        if rng.random() < 0.5:
            imgs.append(x)
            continue
        f = families[int(rng.integers(len(families)))]
        lv = LEVELS[int(rng.integers(len(LEVELS)))]
        imgs.append(FAMILIES[f].apply(x, lv, np.random.default_rng([args.seed, 99, i])))
        if f == "resolution":
            size[i] = FAMILIES[f].level(lv)
    probs = classify(imgs)
    sharp = np.array([sharpness(x) for x in imgs])
    errs = {k: err(probs, w) for k, w in strategies(probs, size, sharp, blur_cut).items()}
    left = {k: float((w[windows] == 0).mean()) for k, w in
            strategies(probs, size, sharp, blur_cut).items() if k.startswith("drop")}  # fmt: skip
    print("\nMixed windows (each face clean with p 0.5, else a random family and level):\n")
    print("| " + " | ".join(names) + " |")
    print("|" + "---|" * len(names))
    print("| " + " | ".join(f"{errs[k]:.4f}" for k in names) + " |")
    print("\nShare of faces left out: " + ", ".join(f"{k} {v:.3f}" for k, v in left.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
