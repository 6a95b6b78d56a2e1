"""Confusion matrix and reliability diagram as one PNG (matplotlib: the ``plot`` extra).

Imported only when ``edge eval --plot`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np


def write_plot(path: Path, overall: dict[str, Any], *, title: str) -> None:
    """Left: row-normalised confusion matrix with counts; right: reliability diagram."""
    fig, (ax_cm, ax_rel) = plt.subplots(1, 2, figsize=(13, 5.5))
    _confusion(ax_cm, overall["confusion"])
    _reliability(ax_rel, overall["reliability"], overall["ece"])
    fig.suptitle(f"{title}: top-1 {overall['top1']:.3f}, macro-F1 {overall['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _confusion(ax: Any, confusion: dict[str, Any]) -> None:
    labels = confusion["labels"]
    cm = np.asarray(confusion["matrix"], dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (colour: share of the row)")
    ax.set_title("confusion matrix")


def _reliability(ax: Any, bins: list[dict[str, Any]], ece: float) -> None:
    width = bins[0]["upper"] - bins[0]["lower"]
    filled = [b for b in bins if b["count"]]
    ax.bar([b["lower"] for b in filled], [b["accuracy"] for b in filled], width=width,
           align="edge", edgecolor="black", alpha=0.8, label="accuracy")  # fmt: skip
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.plot([(b["lower"] + b["upper"]) / 2 for b in filled], [b["confidence"] for b in filled], "o",
            color="tab:red", label="mean confidence of the bin")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top probability (confidence)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability, {len(bins)} bins, ECE {ece:.3f}")
    ax.legend(loc="upper left")
