"""Expression classifier: eye-line alignment, crop, and one invoke per face.

The interpreter, tensor indices, the input look-up table, dequantization parameters and the
crop buffers are set up once. :meth:`ExpressionClassifier.classify` warps the face straight out
of the grey frame into the model-sized buffer with one ``cv2.warpAffine`` (rotation, scale and
crop in one step), so no full-frame intermediate is made per face.

With ``flip_tta`` the crop is classified a second time mirrored left-right and the two
dequantized outputs are averaged before temperature scaling (horizontal-flip test-time
augmentation: two invokes per face, measured gain in ``docs/model-card.md``); the manifest's
``temperature_flip``, when given, is the temperature fitted for that averaged output.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.inference.models import ModelSpec, load_model
from edge.inference.preprocess import input_lut, resize_interpolation
from edge.inference.runtime import as_int
from edge.types import EXPRESSIONS, Detection, ImageArray


class ExpressionClassifier:
    """Turns a grey face crop into expression probabilities in ``EXPRESSIONS`` order."""

    def __init__(
        self, spec: ModelSpec, *, threads: int, margin: float, flip_tta: bool = False
    ) -> None:
        if spec.labels != EXPRESSIONS:
            raise ValueError(
                f"{spec.model_id}: labels {spec.labels} differ from the expected {EXPRESSIONS}"
            )
        self.spec = spec
        self._interpreter = load_model(spec, threads)
        self._size = spec.input_shape[1]
        self._margin = margin
        self._input_index = as_int(self._interpreter.get_input_details()[0]["index"])
        self._output_index = as_int(self._interpreter.get_output_details()[0]["index"])
        self._lut = input_lut(spec)
        self._shrink = resize_interpolation(spec, shrinking=True)
        self._enlarge = resize_interpolation(spec, shrinking=False)
        self._crop = np.zeros((self._size, self._size), dtype=np.uint8)
        self._input = np.zeros(spec.input_shape, dtype=self._lut.dtype)
        quant = spec.output_quant
        self._out_scale = quant.scale if quant else 1.0
        self._out_zero = quant.zero_point if quant else 0
        flip_t = spec.temperature_flip if flip_tta else None
        self._temperature: float = spec.temperature if flip_t is None else flip_t
        self._inv_temperature = 1.0 / self._temperature
        self._mirror = np.zeros((self._size, self._size), dtype=np.uint8) if flip_tta else None

    @property
    def input_size(self) -> int:
        return self._size

    @property
    def flip_tta(self) -> bool:
        """True when each face is also classified mirrored and the two outputs averaged."""
        return self._mirror is not None

    @property
    def temperature(self) -> float:
        """The temperature applied: the manifest's ``temperature_flip`` with flip TTA when it
        has one, else ``temperature``."""
        return self._temperature

    @property
    def invokes_per_face(self) -> int:
        return 2 if self._mirror is not None else 1

    def alignment_matrix(self, detection: Detection) -> np.ndarray:
        """2x3 affine map from crop pixels to frame pixels: eye line level, face centred.

        Crop pixel (u, v) samples the frame at ``centre + R(angle) * step * (u - h, v - h)``
        where ``h`` is the crop's centre and ``step`` the frame pixels per crop pixel.
        """
        (ax, ay), (bx, by) = sorted((detection.right_eye, detection.left_eye))
        angle = math.atan2(by - ay, bx - ax)  # 0 when the eyes are level; never upside down
        cx, cy = detection.box.center
        side = max(detection.box.width, detection.box.height) * (1.0 + self._margin)
        step = side / self._size
        cos, sin = math.cos(angle) * step, math.sin(angle) * step
        half = self._size / 2.0 - 0.5
        return np.array(
            [[cos, -sin, cx - cos * half + sin * half], [sin, cos, cy - sin * half - cos * half]],
            dtype=np.float64,
        )

    def align(self, gray: ImageArray, detection: Detection) -> ImageArray:
        """Rotate the face upright on the eye line and crop it into the model-sized buffer."""
        matrix = self.alignment_matrix(detection)
        cv2.warpAffine(
            gray,
            matrix,
            (self._size, self._size),
            dst=self._crop,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return self._crop

    def classify_crop(self, crop: ImageArray) -> tuple[float, ...]:
        """Probabilities for a grey crop of any size (resized to the model input)."""
        if crop.shape != (self._size, self._size):
            shrink = crop.shape[0] > self._size
            crop = np.asarray(
                cv2.resize(
                    crop,
                    (self._size, self._size),
                    interpolation=self._shrink if shrink else self._enlarge,
                ),
                dtype=np.uint8,
            )
        np.take(self._lut, crop, out=self._input[0, :, :, 0])
        probs = self._dequantized_output()
        if self._mirror is not None:
            cv2.flip(crop, 1, dst=self._mirror)
            np.take(self._lut, self._mirror, out=self._input[0, :, :, 0])
            probs = (probs + self._dequantized_output()) * np.float32(0.5)
        return self._normalized(probs)

    def classify(self, gray: ImageArray, detection: Detection) -> tuple[float, ...]:
        """Probabilities for the face ``detection`` in the grey frame ``gray``."""
        return self.classify_crop(self.align(gray, detection))

    def invoke_only(self) -> None:
        """Run the model once on the current input buffer (for benchmarks of bare invoke)."""
        self._interpreter.set_tensor(self._input_index, self._input)
        self._interpreter.invoke()

    def _dequantized_output(self) -> np.ndarray:
        self.invoke_only()
        raw = np.asarray(self._interpreter.get_tensor(self._output_index)[0], dtype=np.float32)
        return (raw - np.float32(self._out_zero)) * np.float32(self._out_scale)

    def _normalized(self, probs: np.ndarray) -> tuple[float, ...]:
        """Temperature-scaled probabilities that sum to 1."""
        if self._inv_temperature != 1.0:
            logp = np.log(np.maximum(probs, 1e-6)) * self._inv_temperature
            probs = np.exp(logp - logp.max())
        total = float(probs.sum())
        if total <= 0:
            return tuple(1.0 / len(probs) for _ in probs)
        return tuple(float(p) / total for p in probs)
