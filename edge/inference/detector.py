"""BlazeFace face detector: anchors, letterboxed tiles, decoding and weighted NMS.

The interpreter, tensor indices, anchors, the input look-up table and the input buffers are
built once in ``__init__``; :meth:`FaceDetector.detect` allocates only per candidate face.
Small faces (35 px in a 500 px photo) are below what one 192x192 pass resolves, so the frame
can also be cut into ``tiles x tiles`` overlapping tiles, each run through the model, and all
candidates merged by one weighted NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.inference.models import ModelSpec, load_model
from edge.inference.preprocess import input_lut
from edge.inference.runtime import as_int
from edge.types import Box, Detection, ImageArray


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the frame (pixels) that is letterboxed into the model input."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True, slots=True)
class _Placement:
    """How a region was letterboxed into the input: maps input pixels back to the frame."""

    region: Region
    scale: float
    pad_x: float
    pad_y: float

    def to_frame_x(self, v: np.ndarray) -> np.ndarray:
        return (v - self.pad_x) / self.scale + self.region.x0

    def to_frame_y(self, v: np.ndarray) -> np.ndarray:
        return (v - self.pad_y) / self.scale + self.region.y0


def make_anchors(size: int, strides: list[int], per_cell: list[int], offset: float) -> np.ndarray:
    """SSD anchor centres (N x 2, normalised) as MediaPipe builds them for BlazeFace.

    Consecutive layers with the same stride share one grid, their anchors interleaved per
    cell; with ``fixed_anchor_size`` every anchor has width and height 1, so only centres matter.
    """
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        count = 0
        while layer < len(strides) and strides[layer] == stride:
            count += per_cell[layer]
            layer += 1
        cells = int(np.ceil(size / stride))
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + offset) / cells, (y + offset) / cells)] * count)
    return np.asarray(centres, dtype=np.float32)


def plan_regions(width: int, height: int, tiles: int, overlap: float) -> list[Region]:
    """The whole frame plus a ``tiles x tiles`` grid of overlapping tiles covering it."""
    regions = [Region(0, 0, width, height)]
    if tiles <= 1:
        return regions
    tile_w = width / (tiles - (tiles - 1) * overlap)
    tile_h = height / (tiles - (tiles - 1) * overlap)
    step_w = tile_w * (1 - overlap)
    step_h = tile_h * (1 - overlap)
    for row in range(tiles):
        for col in range(tiles):
            x0 = round(col * step_w)
            y0 = round(row * step_h)
            regions.append(
                Region(x0, y0, min(width, round(x0 + tile_w)), min(height, round(y0 + tile_h)))
            )
    return regions


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, eyes: np.ndarray, iou_threshold: float, limit: int
) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression.

    ``boxes`` is N x 4 (x0, y0, x1, y1), ``eyes`` N x 4 (right eye x, y, left eye x, y). The
    best remaining candidate absorbs every candidate that overlaps it by more than
    ``iou_threshold``; the merged box and eyes are the score-weighted mean of the group.
    """
    order = np.argsort(-scores)
    boxes, scores, eyes = boxes[order], scores[order], eyes[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = np.ones(len(scores), dtype=bool)
    out: list[Detection] = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        lo = np.maximum(boxes[i, :2], boxes[:, :2])
        hi = np.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        group = alive & (iou > iou_threshold)
        group[i] = True
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(axis=0) / weights.sum()
        eye = (eyes[group] * weights).sum(axis=0) / weights.sum()
        alive &= ~group
        out.append(
            Detection(
                box=Box(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                score=float(scores[i]),
                right_eye=(float(eye[0]), float(eye[1])),
                left_eye=(float(eye[2]), float(eye[3])),
            )
        )
        if len(out) >= limit:
            break
    return out


class FaceDetector:
    """Finds faces in RGB frames with a BlazeFace model from the manifest."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int,
        score_threshold: float,
        nms_iou: float,
        tiles: int,
        tile_overlap: float,
        max_faces: int,
    ) -> None:
        self.spec = spec
        self._interpreter = load_model(spec, threads)
        self._size = spec.input_shape[1]
        anchors = spec.extra["anchors"]
        self._anchors = make_anchors(
            self._size,
            list(anchors["strides"]),
            list(anchors["per_cell"]),
            float(anchors["offset"]),
        )
        self._input_index = as_int(self._interpreter.get_input_details()[0]["index"])
        outputs = self._interpreter.get_output_details()
        by_width = {as_int(d["shape"][-1]): as_int(d["index"]) for d in outputs}
        self._boxes_index = by_width[16]
        self._scores_index = by_width[1]
        n = len(self._anchors)
        if as_int(outputs[0]["shape"][1]) != n:
            raise ValueError(f"{spec.path.name}: {outputs[0]['shape'][1]} outputs, {n} anchors")
        clip = float(spec.extra.get("score_clip", 100.0))
        # sigmoid(raw) > threshold  <=>  raw > logit(threshold): compare raw scores directly
        self._raw_threshold = float(np.log(score_threshold / (1.0 - score_threshold)))
        self._clip = clip
        self._nms_iou = nms_iou
        self._tiles = tiles
        self._overlap = tile_overlap
        self._max_faces = max_faces
        self._lut = input_lut(spec)
        self._canvas = np.zeros((self._size, self._size, 3), dtype=np.uint8)
        self._input = np.zeros(spec.input_shape, dtype=self._lut.dtype)
        self._regions: dict[tuple[int, int], list[Region]] = {}

    @property
    def invocations_per_frame(self) -> int:
        return 1 if self._tiles <= 1 else 1 + self._tiles * self._tiles

    def regions_for(self, width: int, height: int) -> list[Region]:
        key = (width, height)
        if key not in self._regions:
            self._regions[key] = plan_regions(width, height, self._tiles, self._overlap)
        return self._regions[key]

    def detect(self, image: ImageArray) -> list[Detection]:
        """All faces in the RGB ``image`` (pixel coordinates), best first."""
        height, width = image.shape[:2]
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        eyes: list[np.ndarray] = []
        for region in self.regions_for(width, height):
            found = self._detect_region(image, region)
            if found is not None:
                boxes.append(found[0])
                scores.append(found[1])
                eyes.append(found[2])
        if not scores:
            return []
        return weighted_nms(
            np.concatenate(boxes),
            np.concatenate(scores),
            np.concatenate(eyes),
            self._nms_iou,
            self._max_faces,
        )

    def invoke_only(self) -> None:
        """Run the model once on the current input buffer (for benchmarks of bare invoke)."""
        self._interpreter.set_tensor(self._input_index, self._input)
        self._interpreter.invoke()

    def _letterbox(self, image: ImageArray, region: Region) -> _Placement:
        crop = image[region.y0 : region.y1, region.x0 : region.x1]
        h, w = crop.shape[:2]
        scale = self._size / max(w, h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (self._size - new_w) // 2, (self._size - new_h) // 2
        self._canvas.fill(0)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        self._canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
            crop, (new_w, new_h), interpolation=interp
        )
        np.take(self._lut, self._canvas, out=self._input[0])
        return _Placement(region, scale, float(pad_x), float(pad_y))

    def _detect_region(
        self, image: ImageArray, region: Region
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        placement = self._letterbox(image, region)
        self.invoke_only()
        raw_scores = self._interpreter.get_tensor(self._scores_index)[0, :, 0]
        keep = np.flatnonzero(raw_scores > self._raw_threshold)
        if keep.size == 0:
            return None
        raw = self._interpreter.get_tensor(self._boxes_index)[0, keep]
        return self._decode(raw, raw_scores[keep], keep, placement)

    def _decode(
        self,
        raw: npt.NDArray[np.float32],
        raw_scores: npt.NDArray[np.float32],
        keep: npt.NDArray[np.intp],
        placement: _Placement,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates as frame-pixel boxes (x0, y0, x1, y1), scores, and eyes (rx, ry, lx, ly).

        Raw outputs are offsets in input pixels from the anchor centre: box centre and size,
        then six keypoints (right eye, left eye, nose, mouth, right ear, left ear).
        """
        anchors = self._anchors[keep] * float(self._size)  # anchor centres in input pixels
        xs = raw[:, 0:8:2] + anchors[:, :1]  # centre x, (width), right-eye x, left-eye x
        ys = raw[:, 1:8:2] + anchors[:, 1:]
        half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
        cx, cy = xs[:, 0], ys[:, 0]
        box_x = placement.to_frame_x(np.stack([cx - half_w, cx + half_w], axis=1))
        box_y = placement.to_frame_y(np.stack([cy - half_h, cy + half_h], axis=1))
        boxes = np.stack([box_x[:, 0], box_y[:, 0], box_x[:, 1], box_y[:, 1]], axis=1)
        eye_x = placement.to_frame_x(xs[:, 2:4])
        eye_y = placement.to_frame_y(ys[:, 2:4])
        eyes = np.stack([eye_x[:, 0], eye_y[:, 0], eye_x[:, 1], eye_y[:, 1]], axis=1)
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -self._clip, self._clip)))
        return boxes.astype(np.float32), scores.astype(np.float32), eyes.astype(np.float32)
