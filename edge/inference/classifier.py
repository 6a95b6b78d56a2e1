"""Expression classifier: eye-line alignment, crop, and one batched invoke for all due faces.

The interpreter, tensor indices, the input look-up table, dequantization parameters and the
crop buffers are set up once. Each face is warped straight out of the frame into its slot of a
``N x size x size`` crop buffer with one ``cv2.warpAffine`` (rotation, scale and crop in one
step; from an RGB frame the 48x48 crop alone is turned grey), one ``cv2.LUT`` maps the whole
batch to the model's input values in the input buffer, and one invoke classifies them all.

The crop path (``scripts/crop_path.py`` measures each choice, ``docs/model-card.md``):
``shrink="area"`` warps a face more than one frame pixel per crop pixel (``step`` > 1) into an
intermediate ``k*size`` crop (``k = ceil(step)``, at most :data:`MAX_SUPERSAMPLE`, buffers made
once) and area-averages each ``k x k`` block, so every frame pixel counts instead of the 4 a
bilinear tap reads (``"linear"``: one bilinear warp, which aliases past 2x); ``enlarge`` is
the interpolation of a face smaller than the crop; ``align=False`` keeps the crop axis-aligned.

The interpreter's input is resized to ``[rows, size, size, 1]`` only when the number of rows
differs from the previous batch (measured with LiteRT 2.3.0 on this model: 0.03 ms once the
arena has grown, whereas padding to a fixed batch of 16 costs a full invoke per padded row;
``docs/benchmarks.md``). The interpreter is never rebuilt.

With ``flip_tta`` the mirrored crops are the second half of the same batch and the two
dequantized outputs of each face are averaged before temperature scaling (horizontal-flip
test-time augmentation, measured gain in ``docs/model-card.md``); the manifest's
``temperature_flip``, when given, is the temperature fitted for that averaged output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from edge.aggregation.shares import LOG_CLIP
from edge.inference.models import ModelSpec, load_model
from edge.inference.preprocess import input_lut, resize_interpolation
from edge.inference.quality import QualityFeatures, QualityTemperature, temperatures
from edge.inference.runtime import as_int
from edge.types import EXPRESSIONS, Detection, FloatArray, ImageArray

#: Crop slots allocated at start; the buffers grow (doubling) only when a batch needs more.
INITIAL_SLOTS = 16
#: Largest supersampling factor of the anti-aliased shrink (intermediate crop of k*size px).
MAX_SUPERSAMPLE = 4
#: How a face larger than the crop is shrunk into it.
SHRINK_MODES = ("linear", "area")
#: Interpolation of a face smaller than the crop.
ENLARGE_MODES = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


class ExpressionClassifier:
    """Turns grey face crops into expression probabilities in ``EXPRESSIONS`` order."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int,
        margin: float,
        flip_tta: bool = False,
        align: bool = True,
        shrink: str = "linear",
        enlarge: str = "linear",
    ) -> None:
        if shrink not in SHRINK_MODES or enlarge not in ENLARGE_MODES:
            raise ValueError(
                f"shrink {shrink!r} / enlarge {enlarge!r}: shrink must be one of "
                f"{', '.join(SHRINK_MODES)}, enlarge one of {', '.join(ENLARGE_MODES)}"
            )
        self.spec = spec
        self._interpreter = load_model(spec, threads)  # checks labels and output shape too
        self._size = spec.input_shape[1]
        self._margin = margin
        self._align = align
        self._warp_enlarge = ENLARGE_MODES[enlarge]
        self._max_k = MAX_SUPERSAMPLE if shrink == "area" else 1
        side = self._size
        self._fine = {  # (k, image ndim) -> intermediate crop of the anti-aliased shrink
            (k, ndim): np.zeros((k * side, k * side, 3)[:ndim], dtype=np.uint8)
            for k in range(2, self._max_k + 1)
            for ndim in (2, 3)  # grey frame: k*side x k*side; RGB frame: ... x 3
        }
        self._input_index = as_int(self._interpreter.get_input_details()[0]["index"])
        self._output_index = as_int(self._interpreter.get_output_details()[0]["index"])
        self._lut = input_lut(spec)
        self._shrink = resize_interpolation(spec, shrinking=True)
        self._enlarge = resize_interpolation(spec, shrinking=False)
        self._crop = np.zeros((self._size, self._size), dtype=np.uint8)
        self._colour_crop = np.zeros((self._size, self._size, 3), dtype=np.uint8)
        quant = spec.output_quant
        self._out_scale = np.float32(quant.scale if quant else 1.0)
        self._out_zero = np.float32(quant.zero_point if quant else 0)
        flip_t = spec.temperature_flip if flip_tta else None
        self._temperature: float = spec.temperature if flip_t is None else flip_t
        self._inv_temperature = 1.0 / self._temperature
        self._quality = spec.temperature_quality_flip if flip_tta else spec.temperature_quality
        share_flip = spec.share_temperature_factor_flip if flip_tta else None
        self._share_factor = spec.share_temperature_factor if share_flip is None else share_flip
        self._features = QualityFeatures(self._size)
        self._flip = flip_tta
        self._rows = 1  # the interpreter's current batch size
        self._crops = np.zeros((0, self._size, self._size), dtype=np.uint8)
        self._input = np.zeros((0, self._size, self._size, 1), dtype=self._lut.dtype)
        self._grow(INITIAL_SLOTS)

    @property
    def temperature_quality(self) -> QualityTemperature | None:
        """The per-face quality temperature applied instead of :attr:`temperature` (the
        manifest's ``temperature_quality_flip`` with flip TTA, else ``temperature_quality``),
        or None."""
        return self._quality

    @property
    def share_factor(self) -> float:
        """The share temperature factor of ``edge.aggregation.shares`` for this mode: the
        manifest's ``share_temperature_factor_flip`` with flip TTA when it has one, else
        ``share_temperature_factor`` (1.0 when absent)."""
        return self._share_factor

    @property
    def input_size(self) -> int:
        return self._size

    @property
    def flip_tta(self) -> bool:
        """True when each face is also classified mirrored and the two outputs averaged."""
        return self._flip

    @property
    def temperature(self) -> float:
        """The temperature applied: the manifest's ``temperature_flip`` with flip TTA when it
        has one, else ``temperature``."""
        return self._temperature

    @property
    def invokes_per_face(self) -> int:
        """Model passes per face (rows of the batch per face): 2 with flip TTA."""
        return 2 if self._flip else 1

    @property
    def batch_rows(self) -> int:
        """Rows of the last batched invoke (faces x invokes_per_face)."""
        return self._rows

    def _grow(self, slots: int) -> None:
        crops = np.zeros((slots, self._size, self._size), dtype=np.uint8)
        crops[: len(self._crops)] = self._crops
        self._crops = crops
        rows = slots * self.invokes_per_face
        self._input = np.zeros((rows, self._size, self._size, 1), dtype=self._lut.dtype)

    def alignment_matrix(self, detection: Detection) -> np.ndarray:
        """2x3 affine map from crop pixels to frame pixels: eye line level, face centred.

        Crop pixel (u, v) samples the frame at ``centre + R(angle) * step * (u - h, v - h)``
        where ``h`` is the crop's centre and ``step`` the frame pixels per crop pixel.
        """
        (ax, ay), (bx, by) = sorted((detection.right_eye, detection.left_eye))
        # 0 when the eyes are level (or without alignment); never upside down
        angle = math.atan2(by - ay, bx - ax) if self._align else 0.0
        cx, cy = detection.box.center
        side = max(detection.box.width, detection.box.height) * (1.0 + self._margin)
        step = side / self._size
        cos, sin = math.cos(angle) * step, math.sin(angle) * step
        half = self._size / 2.0 - 0.5
        return np.array(
            [[cos, -sin, cx - cos * half + sin * half], [sin, cos, cy - sin * half - cos * half]],
            dtype=np.float64,
        )

    def _warp(self, image: ImageArray, detection: Detection, dst: ImageArray) -> None:
        matrix = self.alignment_matrix(detection)
        size = self._size
        step = math.hypot(matrix[0, 0], matrix[1, 0])  # frame pixels per crop pixel
        k = min(self._max_k, math.ceil(step - 1e-9))
        if k < 2:
            flags = self._warp_enlarge if step < 1.0 else cv2.INTER_LINEAR
            cv2.warpAffine(
                image,
                matrix,
                (size, size),
                dst=dst,
                flags=flags | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            return
        # fine pixel (u', v') is crop pixel ((u' + 0.5) / k - 0.5, ...): k x k of them per pixel
        offset = 0.5 / k - 0.5
        fine_matrix = matrix.copy()
        fine_matrix[:, :2] /= k
        fine_matrix[:, 2] += (matrix[:, 0] + matrix[:, 1]) * offset
        fine = self._fine[(k, image.ndim)]
        cv2.warpAffine(
            image,
            fine_matrix,
            (k * size, k * size),
            dst=fine,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        cv2.resize(fine, (size, size), dst=dst, interpolation=cv2.INTER_AREA)

    def align(self, gray: ImageArray, detection: Detection) -> ImageArray:
        """Rotate the face upright on the eye line and crop it into the model-sized buffer."""
        self._warp(gray, detection, self._crop)
        return self._crop

    def crop_into(self, image: ImageArray, detection: Detection, slot: int) -> None:
        """Aligned grey crop of ``detection`` into batch slot ``slot``; ``image`` is the grey
        or the RGB frame (then only the crop is converted to grey)."""
        dst = self._crops[slot]
        if image.ndim == 2:
            self._warp(image, detection, dst)
            return
        self._warp(image, detection, self._colour_crop)
        cv2.cvtColor(self._colour_crop, cv2.COLOR_RGB2GRAY, dst=dst)

    def classify_faces(self, image: ImageArray, detections: Sequence[Detection]) -> FloatArray:
        """Probabilities (``len(detections)`` x 7) of every face, in one batched invoke."""
        count = len(detections)
        if count == 0:
            return np.zeros((0, len(EXPRESSIONS)), dtype=np.float32)
        self.crop_all(image, detections)
        return self.infer(count)

    def crop_all(self, image: ImageArray, detections: Sequence[Detection]) -> None:
        """Every face's aligned crop into its batch slot (the slots grow when needed)."""
        count = len(detections)
        if count > len(self._crops):
            self._grow(max(count, 2 * len(self._crops)))
        for slot, detection in enumerate(detections):
            self.crop_into(image, detection, slot)

    def infer(self, count: int) -> FloatArray:
        """Classify the first ``count`` crop slots in one invoke (mirrors in the same batch)."""
        size = self._size
        rows = count * self.invokes_per_face
        batch = self._input[:rows]
        cv2.LUT(
            self._crops[:count].reshape(count * size, size),
            self._lut,
            dst=batch[:count].reshape(count * size, size),
        )
        if self._flip:
            np.copyto(batch[count:], batch[:count, :, ::-1])  # LUT and mirror commute
        if rows != self._rows:
            self._interpreter.resize_tensor_input(self._input_index, [rows, size, size, 1])
            self._interpreter.allocate_tensors()
            self._rows = rows
        self._interpreter.set_tensor(self._input_index, batch)
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._output_index)
        probs = (raw.astype(np.float32) - self._out_zero) * self._out_scale
        if self._flip:
            probs = (probs[:count] + probs[count:]) * np.float32(0.5)
        if self._quality is not None:
            return self._quality_scaled(probs, count, self._quality)
        return self._normalized(probs)

    def classify_crop(self, crop: ImageArray) -> tuple[float, ...]:
        """Probabilities for one grey crop of any size (resized to the model input)."""
        if crop.shape != (self._size, self._size):
            shrink = crop.shape[0] > self._size
            cv2.resize(
                crop,
                (self._size, self._size),
                dst=self._crops[0],
                interpolation=self._shrink if shrink else self._enlarge,
            )
        else:
            np.copyto(self._crops[0], crop)
        return tuple(float(p) for p in self.infer(1)[0])

    def classify(self, gray: ImageArray, detection: Detection) -> tuple[float, ...]:
        """Probabilities for the face ``detection`` in the grey frame ``gray``."""
        return self.classify_crop(self.align(gray, detection))

    def invoke_only(self) -> None:
        """Run the model once on the last batch's input (for benchmarks of bare invoke)."""
        self._interpreter.set_tensor(self._input_index, self._input[: self._rows])
        self._interpreter.invoke()

    def _quality_scaled(
        self, probs: FloatArray, count: int, quality: QualityTemperature
    ) -> FloatArray:
        """Each row normalised, then scaled by its own temperature from the crop's quality
        (``edge.inference.quality``): ``p ∝ exp(log max(p, 1e-6) / T)``."""
        total = probs.sum(axis=1, keepdims=True, dtype=np.float64)
        p = np.where(total > 0, probs / np.maximum(total, 1e-30), 1.0 / probs.shape[1])
        temps = temperatures(quality, self._features.crop_features(self._crops[:count]), p)
        logp = np.log(np.maximum(p, LOG_CLIP)) / temps[:, None]
        scaled = np.exp(logp - logp.max(axis=1, keepdims=True))
        out: FloatArray = (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def _normalized(self, probs: FloatArray) -> FloatArray:
        """Temperature-scaled probabilities, each row summing to 1."""
        if self._inv_temperature != 1.0:
            logp = np.log(np.maximum(probs, np.float32(1e-6))) * np.float32(self._inv_temperature)
            probs = np.exp(logp - logp.max(axis=1, keepdims=True))
        total = probs.sum(axis=1, keepdims=True)
        uniform = np.float32(1.0 / probs.shape[1])
        out: FloatArray = np.where(total > 0, probs / np.maximum(total, 1e-30), uniform)
        return out.astype(np.float32, copy=False)
