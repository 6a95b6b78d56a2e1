"""The ``edge eval`` report: overall and per-group metrics as a JSON-ready dict, and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge.tools.eval import metrics

ECE_BINS = 15


def summarize(probs: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """top1, macro-F1, ECE, NLL, per-class rows and the confusion matrix for one sample set."""
    n_classes = len(class_names)
    predictions = probs.argmax(axis=1)
    cm = metrics.confusion_matrix(labels, predictions, n_classes)
    scores = metrics.class_scores(cm)
    present = [name for name, s in zip(class_names, scores, strict=True) if s.support > 0]
    return {
        "n": len(labels),
        "top1": metrics.top1(cm),
        "macro_f1": metrics.macro_f1(cm),
        "macro_f1_over": present,
        "ece": metrics.expected_calibration_error(probs, labels, ECE_BINS),
        "nll": metrics.nll(metrics.log_probs_from_probs(probs), labels),
        "mean_confidence": float(probs.max(axis=1).mean()) if len(labels) else 0.0,
        "classes": [
            {
                "label": name,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "support": s.support,
                "predicted": s.predicted,
            }
            for name, s in zip(class_names, scores, strict=True)
        ],
        "confusion": {"labels": list(class_names), "matrix": cm.tolist()},
        "reliability": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "count": b.count,
                "accuracy": b.accuracy,
                "confidence": b.confidence,
            }
            for b in metrics.reliability_bins(probs, labels, ECE_BINS)
        ],
    }


def vote_summary(probs: np.ndarray, votes: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Against crowd votes: cross-entropy of the model's output against each face's vote
    distribution, and how many faces have a majority label (what ``overall`` scores)."""
    usable = ~np.isnan(votes).any(axis=1)
    clipped = np.clip(probs[usable], 1e-7, 1.0)
    cross_entropy = (
        float(-(votes[usable] * np.log(clipped)).sum(axis=1).mean()) if usable.any() else None
    )
    return {
        "n_with_votes": int(usable.sum()),
        "cross_entropy": cross_entropy,
        "n_majority": int((labels >= 0).sum()),
        "n_no_majority": int((labels < 0).sum()),
    }


def group_summaries(
    probs: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str | None],
    class_names: Sequence[str],
) -> dict[str, Any]:
    """The same metrics per group, and the largest gap between groups in top-1 and macro-F1."""
    names = sorted({g for g in groups if g is not None})
    member = np.asarray([g is not None for g in groups])
    per_group: dict[str, Any] = {}
    for name in names:
        mask = np.asarray([g == name for g in groups])
        summary = summarize(probs[mask], labels[mask], class_names)
        summary.pop("reliability")
        per_group[name] = summary
    return {
        "groups": per_group,
        "ungrouped": int((~member).sum()),
        "gap": {metric: _gap(per_group, metric) for metric in ("top1", "macro_f1")},
    }


def _gap(per_group: dict[str, Any], metric: str) -> dict[str, Any]:
    if len(per_group) < 2:
        return {"value": 0.0, "best": None, "worst": None}
    ranked = sorted(per_group, key=lambda g: per_group[g][metric])
    worst, best = ranked[0], ranked[-1]
    value = per_group[best][metric] - per_group[worst][metric]
    return {"value": value, "best": best, "worst": worst}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share_note(factor: float | None) -> str:
    """The share temperature factor when it softens the shares (nothing for 1 or absent)."""
    return "" if factor in (None, 1.0) else f", shares at {factor:g} x the temperature"


def to_markdown(report: dict[str, Any]) -> str:
    """Human-readable report: headline numbers, per-class table, confusion matrix, groups."""
    o = report["overall"]
    quality = report.get("temperature_quality")
    calibration = (
        f"temperature {report['temperature']:g}"
        if quality is None
        else "per-face quality temperature ("
        + ", ".join(f"{k} {v:g}" for k, v in quality.items())
        + ")"
    )
    lines = [
        f"# edge eval: {report['data']}",
        "",
        f"model `{report['model']}`, {calibration}"
        f"{', flip TTA' if report.get('flip_tta') else ''}"
        f"{_share_note(report.get('share_temperature_factor'))}, {o['n']} samples",
        "",
        "| top1 | macro_f1 | ece (15 bins) | nll | mean confidence |",
        "|---|---|---|---|---|",
        f"| {o['top1']:.4f} | {o['macro_f1']:.4f} | {o['ece']:.4f} | {o['nll']:.4f} "
        f"| {o['mean_confidence']:.4f} |",
        "",
        f"macro-F1 averages the {len(o['macro_f1_over'])} classes present in the data.",
        "",
        "| class | precision | recall | f1 | support | predicted |",
        "|---|---|---|---|---|---|",
    ]
    for c in o["classes"]:
        lines.append(
            f"| {c['label']} | {_fmt(c['precision'])} | {_fmt(c['recall'])} | {_fmt(c['f1'])} "
            f"| {c['support']} | {c['predicted']} |"
        )
    names = o["confusion"]["labels"]
    lines += ["", "Confusion matrix (rows: true, columns: predicted)", ""]
    lines.append("| true \\ pred | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for name, row in zip(names, o["confusion"]["matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    if "votes" in report:
        v = report["votes"]
        lines += [
            "",
            f"Crowd votes: scored on the {v['n_majority']} faces with a majority label "
            f"({v['n_no_majority']} without one are left out); cross-entropy against the vote "
            f"distribution of {v['n_with_votes']} faces: {_fmt(v['cross_entropy'], 4)}",
        ]
    if "groups" in report:
        lines += _group_lines(report["groups"])
    return "\n".join(lines) + "\n"


def _group_lines(groups: dict[str, Any]) -> list[str]:
    lines = ["", "Per group", "", "| group | n | top1 | macro_f1 | ece |", "|---|---|---|---|---|"]
    for name, g in groups["groups"].items():
        lines.append(f"| {name} | {g['n']} | {g['top1']:.4f} | {g['macro_f1']:.4f} "
                     f"| {g['ece']:.4f} |")  # fmt: skip
    for metric, gap in groups["gap"].items():
        lines.append(
            f"\nlargest {metric} gap: {gap['value']:.4f} ({gap['best']} vs {gap['worst']})"
        )
    if groups["ungrouped"]:
        lines.append(f"\n{groups['ungrouped']} samples are in no group (not in the CSV).")
    return lines
