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
from edge.inference.preprocess import input_lut, resize_interpolation
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


def auto_tiles(width: int, height: int, *, input_size: int, ratio: float, overlap: float) -> int:
    """The fewest tiles per side (1..4) whose tile side is at most ``ratio * input_size`` frame
    pixels: small faces keep enough detector pixels, a frame the model resolves stays whole."""
    longest = max(width, height)
    for tiles in range(1, 4):
        if longest / (tiles - (tiles - 1) * overlap) <= ratio * input_size:
            return tiles
    return 4


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
    scores = scores[order]
    merged = np.concatenate([boxes, eyes], axis=1)[order].astype(np.float64)
    # all pairwise IoUs at once: candidate sets are small (tens), the per-face loop is not
    lo = np.maximum(merged[:, None, :2], merged[None, :, :2])
    hi = np.minimum(merged[:, None, 2:4], merged[None, :, 2:4])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    areas = np.prod(merged[:, 2:4] - merged[:, :2], axis=1)
    iou = inter / np.maximum(areas[:, None] + areas[None, :] - inter, 1e-9)
    alive = np.ones(len(scores), dtype=bool)
    out: list[Detection] = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (iou[i] > iou_threshold)
        group[i] = True
        weights = scores[group].astype(np.float64)
        x0, y0, x1, y1, rx, ry, lx, ly = (weights @ merged[group] / weights.sum()).tolist()
        alive &= ~group
        out.append(
            Detection(
                box=Box(x0, y0, x1, y1),
                score=float(scores[i]),
                right_eye=(rx, ry),
                left_eye=(lx, ly),
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
        tiles: int | str,
        tile_overlap: float,
        max_faces: int,
        auto_tile_ratio: float = 4.0,
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
        # views of the output buffers (no copy of all 2304 x 16 values per invoke); each view
        # is read right after its invoke and never held across the next one
        self._boxes_view = self._interpreter.tensor(self._boxes_index)
        self._scores_view = self._interpreter.tensor(self._scores_index)
        # load_model checked one anchor per output row
        clip = float(spec.extra.get("score_clip", 100.0))
        # sigmoid(raw) > threshold  <=>  raw > logit(threshold): compare raw scores directly
        self._raw_threshold = float(np.log(score_threshold / (1.0 - score_threshold)))
        self._clip = clip
        self._nms_iou = nms_iou
        self._tiles = tiles
        self._auto_ratio = auto_tile_ratio
        self._overlap = tile_overlap
        self._max_faces = max_faces
        self._lut = input_lut(spec)
        self._shrink = resize_interpolation(spec, shrinking=True)
        self._enlarge = resize_interpolation(spec, shrinking=False)
        self._canvas = np.zeros((self._size, self._size, 3), dtype=np.uint8)
        self._input = np.zeros(spec.input_shape, dtype=self._lut.dtype)
        self._regions: dict[tuple[int, int], list[Region]] = {}
        self._last_regions = 1

    @property
    def invocations_per_frame(self) -> int:
        """Model invocations per detection on the last frame size seen (1 before any)."""
        return self._last_regions

    def tiles_for(self, width: int, height: int) -> int:
        """Tiles per side for a ``width`` x ``height`` frame (``tiles: auto`` resolved)."""
        if isinstance(self._tiles, int):
            return self._tiles
        return auto_tiles(
            width, height, input_size=self._size, ratio=self._auto_ratio, overlap=self._overlap
        )

    def regions_for(self, width: int, height: int) -> list[Region]:
        key = (width, height)
        if key not in self._regions:
            tiles = self.tiles_for(width, height)
            self._regions[key] = plan_regions(width, height, tiles, self._overlap)
        return self._regions[key]

    def detect(self, image: ImageArray) -> list[Detection]:
        """All faces in the RGB ``image`` (pixel coordinates), best first."""
        height, width = image.shape[:2]
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        eyes: list[np.ndarray] = []
        regions = self.regions_for(width, height)
        self._last_regions = len(regions)
        for region in regions:
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
        interp = self._shrink if scale < 1 else self._enlarge
        if new_w == self._size:  # landscape: the rows are one contiguous block, resize into it
            self._canvas[:pad_y].fill(0)
            self._canvas[pad_y + new_h :].fill(0)
            cv2.resize(crop, (new_w, new_h), dst=self._canvas[pad_y : pad_y + new_h],
                       interpolation=interp)  # fmt: skip
        else:
            self._canvas.fill(0)
            self._canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
                crop, (new_w, new_h), interpolation=interp
            )
        cv2.LUT(self._canvas, self._lut, dst=self._input[0])  # in place, SIMD: ~4x np.take
        return _Placement(region, scale, float(pad_x), float(pad_y))

    def _detect_region(
        self, image: ImageArray, region: Region
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        placement = self._letterbox(image, region)
        self.invoke_only()
        raw_scores = self._scores_view()[0, :, 0]
        keep = np.flatnonzero(raw_scores > self._raw_threshold)
        if keep.size == 0:
            return None
        raw = self._boxes_view()[0, keep]  # fancy indexing copies only the candidates
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
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2.0
        # (x, y) pairs: box top-left, bottom-right, right eye, left eye; mapped to the frame
        points = np.concatenate(
            [centre - half, centre + half, raw[:, 4:6] + anchors, raw[:, 6:8] + anchors], axis=1
        ).reshape(-1, 4, 2)
        region = placement.region
        shift = np.array([placement.pad_x, placement.pad_y], dtype=np.float32)
        origin = np.array([region.x0, region.y0], dtype=np.float32)
        frame = ((points - shift) / placement.scale + origin).reshape(-1, 8).astype(np.float32)
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -self._clip, self._clip)))
        return frame[:, :4], scores.astype(np.float32), frame[:, 4:]
