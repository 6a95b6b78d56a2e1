"""Per-face temperature from the crop's quality (issue 21: calibration that holds off-domain).

One temperature for every face cannot be right for a sharp, well-lit face and a blurred, dark
one at once: fitted on sharp faces it overstates certainty on blurred ones, fitted on a mix it
understates it on sharp ones. The manifest's ``temperature_quality`` (one-pass output) and
``temperature_quality_flip`` (flip-TTA output) make the temperature a function of three numbers
that the classifier already has for each face::

    log T = intercept + sharpness * s + contrast * c + entropy * h,   T clipped to [min, max]

- ``s = ln((mean |Laplacian| + 1) / (std + 1))`` of the 48x48 grey crop (``cv2.Laplacian``,
  ``ksize=1``, float32, default border): high-frequency energy relative to contrast; blur and
  small faces (enlarged to 48 px) lower it;
- ``c = ln(std + 1)`` of the crop's pixel values: low light and haze lower it;
- ``h = -sum(p ln p)`` of the model's output before scaling (``p`` clipped at 1e-6 as in the
  scaling itself): how unsure the network already is.

``T`` is one number per face, so it never changes which class ranks first: top-1 and macro-F1
stay what they are. ``models/calibrate.py --quality`` fits the four coefficients by negative
log-likelihood on held-out training faces, clean and under every degradation of the suite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.aggregation.shares import LOG_CLIP

F64 = npt.NDArray[np.float64]

#: The coefficient keys of a ``temperature_quality`` table, in formula order.
COEFFICIENTS = ("intercept", "sharpness", "contrast", "entropy")


@dataclass(frozen=True, slots=True)
class QualityTemperature:
    """``log T = intercept + sharpness*s + contrast*c + entropy*h``, T in [t_min, t_max]."""

    intercept: float
    sharpness: float
    contrast: float
    entropy: float
    t_min: float = 0.2
    t_max: float = 5.0

    @classmethod
    def from_manifest(cls, key: str, raw: Any) -> QualityTemperature:
        """Parse the manifest table ``key``; ValueError naming the key and the fix."""
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"{key} must be a table {{ {', '.join(f'{c} = <number>' for c in COEFFICIENTS)}"
                " }, as models/calibrate.py --quality writes it"
            )
        unknown = sorted(set(raw) - {*COEFFICIENTS, "min", "max"})
        if unknown:
            raise ValueError(f"{key}: unknown key(s) {', '.join(unknown)}; "
                             f"use {', '.join(COEFFICIENTS)}, min, max")  # fmt: skip
        values: dict[str, float] = {}
        for name in (*COEFFICIENTS, "min", "max"):
            if name not in raw:
                if name in COEFFICIENTS:
                    raise ValueError(f"{key}.{name} is missing; rerun models/calibrate.py "
                                     "--quality --write, or delete the table")  # fmt: skip
                continue
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key}.{name} = {value!r} must be a number")
            if not math.isfinite(float(value)):
                raise ValueError(f"{key}.{name} = {value!r} must be finite")
            values[name] = float(value)
        t_min, t_max = values.pop("min", 0.2), values.pop("max", 5.0)
        if not 0 < t_min <= t_max:
            raise ValueError(f"{key}: min = {t_min} and max = {t_max} need 0 < min <= max")
        return cls(**values, t_min=t_min, t_max=t_max)

    def describe(self) -> dict[str, float]:
        """The table as published in reports (``edge eval``)."""
        out = {name: getattr(self, name) for name in COEFFICIENTS}
        out.update({"min": self.t_min, "max": self.t_max})
        return out


class QualityFeatures:
    """Crop features ``(s, c)`` with one preallocated float32 buffer (no per-face arrays
    beyond the result)."""

    def __init__(self, size: int) -> None:
        self._lap = np.zeros((size, size), dtype=np.float32)

    def crop_features(self, crops: np.ndarray) -> F64:
        """``count x 2`` array of (sharpness s, contrast c) of ``count`` uint8 crops."""
        out = np.empty((len(crops), 2), dtype=np.float64)
        pixels = float(self._lap.size)
        for i, crop in enumerate(crops):
            cv2.Laplacian(crop, cv2.CV_32F, dst=self._lap, ksize=1)
            std = float(cv2.meanStdDev(crop)[1][0, 0])
            lap = cv2.norm(self._lap, cv2.NORM_L1) / pixels  # mean |Laplacian|, no temporaries
            out[i, 0] = math.log((lap + 1.0) / (std + 1.0))
            out[i, 1] = math.log(std + 1.0)
        return out


def entropy(probs: np.ndarray) -> F64:
    """``-sum(p ln p)`` per row, p clipped at LOG_CLIP."""
    p = np.asarray(probs, dtype=np.float64)
    result: F64 = -(p * np.log(np.maximum(p, LOG_CLIP))).sum(axis=1)
    return result


def temperatures(model: QualityTemperature, crop_feats: F64, probs: np.ndarray) -> F64:
    """Per-row temperature of ``model`` for crops with ``crop_feats`` and outputs ``probs``."""
    log_t = (
        model.intercept
        + model.sharpness * crop_feats[:, 0]
        + model.contrast * crop_feats[:, 1]
        + model.entropy * entropy(probs)
    )
    result: F64 = np.clip(np.exp(log_t), model.t_min, model.t_max)
    return result
