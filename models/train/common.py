"""Shared helpers for the edge_fer_cnn training pipeline.

Data loading, the stratified train/validation split, the model's input preprocessing and the
classification metrics used by ``train.py`` and ``export.py``. Nothing here is imported by the
runtime package ``edge/``; this directory has its own ``requirements.txt``.
"""

from __future__ import annotations

import itertools
import json
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
