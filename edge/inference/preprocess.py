"""Pixel preprocessing from the manifest, folded into one 256-entry look-up table per model.

``y = (x * scale + offset) * multiply`` maps a uint8 pixel to the model's float input; for an
int8 model the result is quantized with the input scale and zero point. Both depend on the
pixel value alone, so one table look-up per frame or face does the whole conversion in place.

``resize`` picks the OpenCV interpolation: ``auto`` is area when shrinking and bilinear when
enlarging, ``area`` and ``linear`` use one method both ways.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.inference.models import ModelError, ModelSpec

#: manifest ``preprocess.resize`` -> OpenCV interpolation when (shrinking, enlarging)
RESIZE_MODES: dict[str, tuple[int, int]] = {
    "auto": (cv2.INTER_AREA, cv2.INTER_LINEAR),
    "area": (cv2.INTER_AREA, cv2.INTER_AREA),
    "linear": (cv2.INTER_LINEAR, cv2.INTER_LINEAR),
}


def resize_interpolation(spec: ModelSpec, *, shrinking: bool) -> int:
    """The ``cv2.INTER_*`` flag the manifest asks for when an image is shrunk or enlarged."""
    try:
        shrink, enlarge = RESIZE_MODES[spec.preprocess.resize]
    except KeyError:
        raise ModelError(
            f"manifest entry {spec.model_id!r}: preprocess.resize {spec.preprocess.resize!r} "
            f"is not one of {', '.join(RESIZE_MODES)}"
        ) from None
    return shrink if shrinking else enlarge


def input_lut(spec: ModelSpec) -> np.ndarray:
    """Look-up table: uint8 pixel -> model input value in the model's input dtype."""
    pre = spec.preprocess
    pixels = np.arange(256, dtype=np.float64)
    values = (pixels * pre.scale + pre.offset) * pre.multiply
    dtype = np.dtype(spec.input_dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    if spec.input_quant is None:
        raise ModelError(f"{spec.model_id}: integer input needs input_quant in the manifest")
    info = np.iinfo(dtype)
    quantized = np.round(values / spec.input_quant.scale) + spec.input_quant.zero_point
    return np.clip(quantized, info.min, info.max).astype(dtype)
