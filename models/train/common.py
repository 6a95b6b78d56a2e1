"""Shared helpers for the edge_fer_cnn training pipeline.

Data loading, the stratified train/validation split, the model's input preprocessing and the
classification metrics used by ``train.py`` and ``export.py``. Nothing here is imported by the
runtime package ``edge/``; this directory has its own ``requirements.txt``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(LABELS)
INPUT_SIZE = 48
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "fer2013"


def load_npz(path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Load ``images`` (N x 48 x 48 uint8) and ``labels`` (N,) from a FER2013 ``.npz`` file."""
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["label_names"]]
        if tuple(names) != LABELS:
            raise ValueError(f"{path}: unexpected label order {names}")
        images = np.asarray(data["images"], dtype=np.uint8)
        labels = np.asarray(data["labels"], dtype=np.int64)
    return images, labels


def stratified_split(
    labels: npt.NDArray[np.int64], val_frac: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return (train_idx, val_idx): ``val_frac`` of every class goes to validation."""
    rng = np.random.default_rng(seed)
    train_parts: list[npt.NDArray[np.int64]] = []
    val_parts: list[npt.NDArray[np.int64]] = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = round(len(idx) * val_frac)
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


def preprocess(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 gray (N,48,48) -> float32 (N,48,48,1) in [-1, 1]: ``(x / 255 - 0.5) * 2``.

    FER2013 crops are already 48x48, so the runtime's ``cv2.resize(..., INTER_AREA)`` to 48x48
    is the identity here.
    """
    x = images.astype(np.float32) / 255.0
    return ((x - 0.5) * 2.0)[..., None]


def confusion(
    y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Confusion matrix, rows = true class, columns = predicted class."""
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def classification_report(
    y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64]
) -> dict[str, Any]:
    """Top-1, macro-F1 and per-class precision/recall/F1/support."""
    cm = confusion(y_true, y_pred)
    tp = np.diag(cm).astype(np.float64)
    pred_pos = cm.sum(axis=0).astype(np.float64)
    true_pos = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred_pos, out=np.zeros_like(tp), where=pred_pos > 0)
    recall = np.divide(tp, true_pos, out=np.zeros_like(tp), where=true_pos > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    per_class = {
        name: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(true_pos[i]),
        }
        for i, name in enumerate(LABELS)
    }
    return {
        "top1": round(float(tp.sum() / max(len(y_true), 1)), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def macro_f1(y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64]) -> float:
    """Unweighted mean of the per-class F1 scores."""
    return float(classification_report(y_true, y_pred)["macro_f1"])


def ece(probs: npt.NDArray[np.float64], y_true: npt.NDArray[np.int64], bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence with ``bins`` equal-width bins."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(total)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON with a trailing newline."""
    path.write_text(json.dumps(obj, indent=2) + "\n")


# ------------------------------------------------------------------------------- FER+ (issue 14)

DEFAULT_FERPLUS_DIR = REPO_ROOT.parent / "shared" / "data" / "ferplus"
VOTE_NAMES: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
    "unknown", "NF",
)  # fmt: skip
# column of ``votes`` for each of our LABELS (angry, disgust, fear, happy, sad, surprise, neutral)
VOTE_COLUMNS: tuple[int, ...] = (4, 5, 6, 1, 3, 2, 0)
CONTEMPT, UNKNOWN, NOT_FACE = 7, 8, 9


def load_ferplus(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Load a FER+ ``.npz``: images (N,48,48) uint8, votes (N,10) int64 in VOTE_NAMES order,
    majority (N,) int64 (index into LABELS or -1) and fer2013_label (N,) int64."""
    with np.load(path, allow_pickle=False) as data:
        if tuple(str(n) for n in data["label_names"]) != LABELS:
            raise ValueError(f"{path}: unexpected label order")
        if tuple(str(n) for n in data["vote_names"]) != VOTE_NAMES:
            raise ValueError(f"{path}: unexpected vote order")
        return {
            "images": np.asarray(data["images"], dtype=np.uint8),
            "votes": np.asarray(data["votes"], dtype=np.int64),
            "majority": np.asarray(data["majority"], dtype=np.int64),
            "fer2013_label": np.asarray(data["fer2013_label"], dtype=np.int64),
        }


def vote_targets(
    votes: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """FER+ votes (N,10) -> (targets (N,7) in LABELS order, keep mask).

    The contempt, unknown and not-a-face columns are dropped and the 7 remaining vote counts are
    renormalised to sum to 1. An image is dropped (keep = False) when none of its votes is for
    one of our 7 labels, or when more than half of all its votes are unknown or not-a-face.
    Contempt-majority faces are kept with their remaining votes (contempt is an expression we do
    not model, not a bad crop).
    """
    v7 = votes[:, list(VOTE_COLUMNS)].astype(np.float64)
    n7 = v7.sum(axis=1)
    bad = votes[:, UNKNOWN] + votes[:, NOT_FACE]
    keep = (n7 > 0) & (bad * 2 <= votes.sum(axis=1))
    targets = np.divide(v7, n7[:, None], out=np.zeros_like(v7), where=n7[:, None] > 0)
    return targets.astype(np.float32), keep


TWIN_COSINE = 0.9998  # FER2013 images this close to a FER+ image are copies of it


def twin_blocks(
    images: npt.NDArray[np.uint8], ref: npt.NDArray[np.uint8], block: int = 1000
) -> Iterator[tuple[int, npt.NDArray[np.bool_]]]:
    """(start, twins) per block of ``images``: ``twins[k, j]`` says ``ref[j]`` is a copy of
    ``images[start + k]``, i.e. their 12x12 mean-pooled, centred, normalised pixels have a cosine
    of at least ``TWIN_COSINE``. Lossless and JPEG copies of one 48x48 picture match; different
    pictures do not (a FER+ image's best FER2013 match is >= 0.99987, mean absolute pixel
    difference <= 1.6). float64, so the answer does not depend on the BLAS build or thread count."""

    def feat(im: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        n = len(im)
        x = im.astype(np.float64).reshape(n, 12, 4, 12, 4).mean(axis=(2, 4)).reshape(n, -1)
        x -= x.mean(axis=1, keepdims=True)
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)

    a, b = feat(images), feat(ref)
    for i in range(0, len(a), block):
        yield i, (a[i : i + block] @ b.T) >= TWIN_COSINE


def ferplus_holdout(
    images: npt.NDArray[np.uint8], fer2013_train: Path, val_frac: float, split_seed: int
) -> npt.NDArray[np.bool_]:
    """Validation mask over FER+ train images: the images whose FER2013 copies are all in the
    FER2013 validation split ``stratified_split(fer2013 labels, val_frac, split_seed)``.

    FER+ pixels are lossless, FER2013's Kaggle copies are JPEGs; an image's copies are found by
    ``twin_blocks``, and every FER+ train image has one. FER2013 holds the same picture more than
    once: 2,324 of the 28,558 FER+ train images (8 %) have two or more copies, and 431 have copies
    on both sides of the split. Such an image is NOT held out, because its training copy was
    trained on: the split is the FER+ faces that the warm-start weights (``edge_fer_cnn_int8``,
    trained on FER2013 train with the edge_fer_cnn split, 0.1 and seed 1234) never saw, so it
    stays clean for early stopping, model choice and temperature fitting. The decision does not
    depend on the BLAS build or its thread count; the nearest-copy argmax it replaced (until
    2026-12-03) did, among equal copies (2,469 carved majority faces on one thread, 2,464 on two;
    now 2,307 on either).
    The split is stratified by the FER2013 label, not the FER+ majority.
    """
    ref, ref_labels = load_npz(fer2013_train)
    _, val_idx = stratified_split(ref_labels, val_frac, split_seed)
    in_val = np.zeros(len(ref), dtype=bool)
    in_val[val_idx] = True

    held = np.empty(len(images), dtype=bool)
    for i, twins in twin_blocks(images, ref):
        n_twins = twins.sum(axis=1)
        if not n_twins.all():
            j = i + int(np.flatnonzero(n_twins == 0)[0])
            raise ValueError(
                f"image {j} has no FER2013 copy in {fer2013_train} (cosine >= {TWIN_COSINE}): "
                "the images are not FER2013 Training pixels"
            )
        held[i : i + len(twins)] = (twins & in_val).sum(axis=1) == n_twins
    return held


def soft_cross_entropy(probs: npt.NDArray[Any], targets: npt.NDArray[Any]) -> float:
    """Mean cross-entropy ``-sum(t * log p)`` of probabilities against target distributions."""
    p = np.clip(probs / probs.sum(axis=1, keepdims=True), 1e-12, None)
    return float(-(targets * np.log(p)).sum(axis=1).mean())


def tertile_top1(
    values: npt.NDArray[Any], y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64]
) -> dict[str, Any]:
    """Top-1 in the low / mid / high tertile of ``values`` (per image), and the max-min gap."""
    edges = np.quantile(values, [1 / 3, 2 / 3])
    bins = np.digitize(values, edges)
    out: dict[str, Any] = {"edges": [round(float(e), 3) for e in edges]}
    accs = []
    for b, name in enumerate(("low", "mid", "high")):
        m = bins == b
        acc = float((y_true[m] == y_pred[m]).mean())
        accs.append(acc)
        out[name] = {"images": int(m.sum()), "top1": round(acc, 4)}
    out["gap"] = round(max(accs) - min(accs), 4)
    return out


def carved_ferplus_faces(
    fraction: float, seed: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The FER+ training faces held out by ``ferplus_holdout(fraction, seed)`` that the vote rule
    keeps and that have a majority: (images, majority labels, vote shares over LABELS). No
    training run trains on them; model choice (``soup.py``) and calibration (``calibrate.py``,
    ``export_ferplus.py``'s temperature) use them."""
    tr = load_ferplus(DEFAULT_FERPLUS_DIR / "train.npz")
    targets, keep = vote_targets(tr["votes"])
    held = ferplus_holdout(tr["images"], DEFAULT_DATA_DIR / "train.npz", fraction, seed)
    idx = np.flatnonzero(keep & held & (tr["majority"] >= 0))
    return tr["images"][idx], tr["majority"][idx], targets[idx]
