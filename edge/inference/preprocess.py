"""Pixel preprocessing from the manifest, folded into one 256-entry look-up table per model.

``y = (x * scale + offset) * multiply`` maps a uint8 pixel to the model's float input; for an
int8 model the result is quantized with the input scale and zero point. Both depend on the
pixel value alone, so one ``np.take`` per frame or face does the whole conversion in place.
"""

from __future__ import annotations

import numpy as np

from edge.inference.models import ModelSpec


def input_lut(spec: ModelSpec) -> np.ndarray:
    """Look-up table: uint8 pixel -> model input value in the model's input dtype."""
    pre = spec.preprocess
    pixels = np.arange(256, dtype=np.float64)
    values = (pixels * pre.scale + pre.offset) * pre.multiply
    dtype = np.dtype(spec.input_dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    if spec.input_quant is None:
        raise ValueError(f"{spec.model_id}: integer input needs input_quant in the manifest")
    info = np.iinfo(dtype)
    quantized = np.round(values / spec.input_quant.scale) + spec.input_quant.zero_point
    return np.clip(quantized, info.min, info.max).astype(dtype)
