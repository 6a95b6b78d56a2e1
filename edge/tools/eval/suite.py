"""The robustness suite of ``edge eval --conditions`` (issue 21).

For ``clean`` and every (condition, level) asked for, the labelled faces are degraded by
:mod:`edge.tools.eval.conditions` and classified again; each row reports top-1, macro-F1, ECE
(:func:`edge.tools.eval.report.summarize`, the same metric code as the plain report) and the
window share error (:mod:`edge.tools.eval.shares`) against the labels and, with crowd votes,
against the vote shares.

- Faces are first brought to the model's input size (``cv2.INTER_AREA`` when shrinking,
  ``INTER_LINEAR`` when enlarging), the scale at which the conditions' strengths are defined
  (a 48 px face: blur sigma in pixels of it, "resolution 20" = that face seen at 20 px).
- Face ``i`` under family ``f`` uses the generator ``default_rng([seed, f, i])`` at every level,
  so levels of one family are paired (same occluder position, same jitter direction).
- The windows are drawn once per truth (labels / votes) from ``seed``: every condition and every
  model is scored on the same windows. A window's shares are the mean of its faces'
  probabilities softened by the model's share temperature factor, exactly as the aggregation
  computes ``expressions`` (``edge.aggregation.shares``); top-1, macro-F1 and ECE use the
  probabilities themselves, as ``confidence`` does.
- **Subtle set** (with votes only): faces whose crowd split between neutral and one expression:
  neutral has >= 30 % of the votes over the model's labels, the most-voted other label has
  >= 30 %, and the two together >= 80 % (e.g. 4 neutral, 4 happy, 1 sad, 1 surprise of 10).
  Scored against the votes (on the share probabilities, as a window would report them): what
  the model puts on neutral and on the expression versus the crowd, how often it answers
  neutral, the per-face L1 to the votes and the window share error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.aggregation.shares import soften
from edge.tools.eval.conditions import FAMILIES
from edge.tools.eval.data import Dataset
from edge.tools.eval.report import summarize, vote_summary
from edge.tools.eval.shares import one_hot, share_error, window_indices
from edge.types import ImageArray

Classify = Callable[[Sequence[ImageArray]], np.ndarray]
SUBTLE_MIN_SHARE = 0.3
SUBTLE_MIN_PAIR = 0.8


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    """What to run: (family, level) pairs, window size and count, seed, model input size."""

    conditions: Sequence[tuple[str, str]]
    input_size: int
    window_faces: int = 20
    windows: int = 500
    seed: int = 21
    #: Shares use each face's probabilities softened by this factor, as the aggregation does
    #: (``edge.aggregation.shares``; the model's ``share_temperature_factor``).
    share_factor: float = 1.0


def to_input_size(img: ImageArray, size: int) -> ImageArray:
    """The face at the model's input size, resized as the runtime resizes."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    shrink = size < max(h, w)
    out = cv2.resize(
        img, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return np.asarray(out, dtype=np.uint8)


class _Truth:
    """Labels / votes of the evaluated faces and the fixed windows over each."""

    def __init__(self, dataset: Dataset, n_classes: int, options: SuiteOptions) -> None:
        self.labels = dataset.labels
        self.labelled = np.flatnonzero(dataset.labels >= 0)
        self.label_truth = one_hot(dataset.labels[self.labelled], n_classes)
        self.label_windows = self._windows(len(self.labelled), options, 0)
        self.votes = dataset.votes
        self.voted = np.zeros(0, np.int64)
        self.vote_windows: np.ndarray | None = None
        if dataset.votes is not None:
            self.voted = np.flatnonzero(~np.isnan(dataset.votes).any(axis=1))
            self.vote_windows = self._windows(len(self.voted), options, 1)

    @staticmethod
    def _windows(n: int, options: SuiteOptions, salt: int) -> np.ndarray | None:
        if n < options.window_faces:
            return None
        return window_indices(n, options.window_faces, options.windows, options.seed + salt)


def _row(
    probs: np.ndarray,
    truth: _Truth,
    class_names: Sequence[str],
    name: str,
    level: str,
    *,
    share_factor: float = 1.0,
) -> dict[str, Any]:
    lab = truth.labelled
    shares = soften(probs, share_factor)
    s = summarize(probs[lab], truth.labels[lab], class_names)
    row: dict[str, Any] = {
        "condition": name,
        "level": level,
        "strength": FAMILIES[name].level(level) if name in FAMILIES else None,
        "unit": FAMILIES[name].unit if name in FAMILIES else None,
        "n": s["n"],
        "top1": s["top1"],
        "macro_f1": s["macro_f1"],
        "ece": s["ece"],
        "nll": s["nll"],
        "mean_confidence": s["mean_confidence"],
        "share_error": {"labels": None, "votes": None},
    }
    if truth.label_windows is not None:
        err = share_error(shares[lab], truth.label_truth, truth.label_windows)
        row["share_error"]["labels"] = err.as_dict()
    if truth.votes is not None and truth.vote_windows is not None:
        voted = truth.voted
        err = share_error(shares[voted], truth.votes[voted], truth.vote_windows)
        row["share_error"]["votes"] = err.as_dict()
        row["vote_cross_entropy"] = vote_summary(probs, truth.votes, truth.labels)["cross_entropy"]
    return row


def run_suite(
    classify: Classify,
    dataset: Dataset,
    class_names: Sequence[str],
    options: SuiteOptions,
    *,
    clean_probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """The suite's JSON-ready result: settings, the ``clean`` row, one row per condition, the
    subtle set (with votes). ``clean_probs`` reuses probabilities already computed on the
    original faces (the runtime resizes them the same way)."""
    truth = _Truth(dataset, len(class_names), options)
    faces = [to_input_size(img, options.input_size) for img in dataset.images]
    clean = classify(faces) if clean_probs is None else clean_probs
    f = options.share_factor
    rows = [_row(clean, truth, class_names, "clean", "none", share_factor=f)]
    families = list(FAMILIES)
    for name, level in options.conditions:
        family = FAMILIES[name]
        index = families.index(name)
        degraded = [
            family.apply(img, level, np.random.default_rng([options.seed, index, i]))
            for i, img in enumerate(faces)
        ]
        rows.append(_row(classify(degraded), truth, class_names, name, level, share_factor=f))
    result: dict[str, Any] = {
        "window_faces": options.window_faces,
        "windows": options.windows,
        "seed": options.seed,
        "input_size": options.input_size,
        "share_factor": f,
        "rows": rows,
    }
    if dataset.votes is not None:
        result["subtle"] = subtle_summary(soften(clean, f), dataset.votes, class_names, options)
    return result


def subtle_mask(votes: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the subtle faces, index of each face's most-voted non-neutral label)."""
    neutral = list(class_names).index("neutral")
    v = np.nan_to_num(votes, nan=0.0)
    others = v.copy()
    others[:, neutral] = -1.0
    expression = others.argmax(axis=1)
    share_e = v[np.arange(len(v)), expression]
    share_n = v[:, neutral]
    mask = (
        (share_n >= SUBTLE_MIN_SHARE)
        & (share_e >= SUBTLE_MIN_SHARE)
        & (share_n + share_e >= SUBTLE_MIN_PAIR - 1e-9)
    )
    return mask, expression


def subtle_summary(
    probs: np.ndarray, votes: np.ndarray, class_names: Sequence[str], options: SuiteOptions
) -> dict[str, Any] | None:
    """Model versus crowd on the subtle faces (None when the model has no ``neutral``)."""
    if "neutral" not in class_names:
        return None
    neutral = list(class_names).index("neutral")
    mask, expression = subtle_mask(votes, class_names)
    idx = np.flatnonzero(mask)
    out: dict[str, Any] = {
        "rule": f"crowd share of neutral >= {SUBTLE_MIN_SHARE}, of one expression >= "
        f"{SUBTLE_MIN_SHARE}, both together >= {SUBTLE_MIN_PAIR}",
        "n": len(idx),
    }
    if not len(idx):
        return out
    p, v, e = probs[idx], votes[idx], expression[idx]
    rows = np.arange(len(idx))
    out.update(
        {
            "per_expression": {
                class_names[k]: int((e == k).sum()) for k in sorted(set(e.tolist()))
            },
            "crowd_neutral_share": float(v[:, neutral].mean()),
            "model_neutral_share": float(p[:, neutral].mean()),
            "crowd_expression_share": float(v[rows, e].mean()),
            "model_expression_share": float(p[rows, e].mean()),
            "answered_neutral": float((p.argmax(axis=1) == neutral).mean()),
            "answered_expression": float((p.argmax(axis=1) == e).mean()),
            "mean_face_l1": float(np.abs(p - v).sum(axis=1).mean()),
            "share_error": None,
        }
    )
    if len(idx) >= options.window_faces:
        windows = window_indices(len(idx), options.window_faces, options.windows, options.seed + 2)
        out["share_error"] = share_error(p, v, windows).as_dict()
    return out


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(row: dict[str, Any], key: str, field: str = "mean_l1") -> str:
    err = row["share_error"][key]
    return "-" if err is None else f"{err[field]:.3f}"


def suite_markdown(suite: dict[str, Any]) -> list[str]:
    """Markdown lines: one table row per condition and level, then the subtle set."""
    rows = suite["rows"]
    clean = rows[0]
    lines = [
        "",
        f"## Robustness suite ({len(rows) - 1} conditions; share error = mean L1 over "
        f"{suite['windows']} windows of {suite['window_faces']} faces, seed {suite['seed']})",
        "",
        "| condition | level | strength | n | top1 | top1 vs clean | macro_f1 | ece "
        "| share L1 labels | share L1 votes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        strength = "" if r["strength"] is None else f"{r['strength']:g} {r['unit']}"
        lines.append(
            f"| {r['condition']} | {r['level']} | {strength} | {r['n']} | {r['top1']:.4f} "
            f"| {100 * (r['top1'] - clean['top1']):+.1f} | {r['macro_f1']:.4f} | {r['ece']:.4f} "
            f"| {_share(r, 'labels')} | {_share(r, 'votes')} |"
        )
    ref = [
        f"{key} {_share(clean, key, 'prior_mean_l1')}"
        for key in ("labels", "votes")
        if clean["share_error"][key] is not None
    ]
    if ref:
        lines += ["", f"Constant guess of the set's mean truth (reference): {', '.join(ref)}."]
    subtle = suite.get("subtle")
    if subtle:
        lines += ["", f"### Subtle set ({subtle['rule']}): {subtle['n']} faces", ""]
        if subtle["n"]:
            err = subtle["share_error"]
            lines += [
                "| | crowd | model |",
                "|---|---|---|",
                f"| share on neutral | {subtle['crowd_neutral_share']:.3f} "
                f"| {subtle['model_neutral_share']:.3f} |",
                f"| share on the expression | {subtle['crowd_expression_share']:.3f} "
                f"| {subtle['model_expression_share']:.3f} |",
                "",
                f"answered neutral {_f(subtle['answered_neutral'])}, the expression "
                f"{_f(subtle['answered_expression'])}; mean per-face L1 to the votes "
                f"{_f(subtle['mean_face_l1'])}; window share error "
                f"{'-' if err is None else _f(err['mean_l1'])} "
                f"(constant guess {'-' if err is None else _f(err['prior_mean_l1'])})",
            ]
    return lines
