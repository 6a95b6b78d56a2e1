"""Detector + classifier for one frame, with per-stage timings kept for telemetry and bench."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import cv2
import numpy as np

from edge.config import Config
from edge.inference.classifier import ExpressionClassifier
from edge.inference.detector import FaceDetector
from edge.inference.models import bundled_models_dir, get_spec
from edge.types import Detection, Face, ImageArray


class StageTimes:
    """The last ``size`` durations of one stage, in milliseconds."""

    def __init__(self, size: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, ms: float) -> None:
        self._values.append(ms)

    def percentile(self, q: float) -> float | None:
        if not self._values:
            return None
        return float(np.percentile(np.fromiter(self._values, dtype=np.float64), q))

    def p50_p95(self) -> tuple[float, float] | None:
        """(median, 95th percentile), or None before the first sample."""
        if not self._values:
            return None
        p50, p95 = np.percentile(np.fromiter(self._values, dtype=np.float64), (50, 95))
        return float(p50), float(p95)


class FaceAnalyzer:
    """Runs detection on the RGB frame, then classifies each face on the grey frame."""

    def __init__(self, detector: FaceDetector, classifier: ExpressionClassifier) -> None:
        self.detector = detector
        self.classifier = classifier
        self.detect_ms = StageTimes()
        self.classify_ms = StageTimes()
        self._gray: ImageArray | None = None

    @classmethod
    def from_config(cls, config: Config) -> FaceAnalyzer:
        """Load both models once (sha256 and tensor checks included)."""
        models_dir = config.models.dir or bundled_models_dir()
        det = config.detector
        detector = FaceDetector(
            get_spec(models_dir, det.model, "detector"),
            threads=det.threads,
            score_threshold=det.score_threshold,
            nms_iou=det.nms_iou,
            tiles=det.tiles,
            tile_overlap=det.tile_overlap,
            max_faces=det.max_faces,
        )
        cls_cfg = config.classifier
        classifier = ExpressionClassifier(
            get_spec(models_dir, cls_cfg.model, "classifier"),
            threads=cls_cfg.threads,
            margin=cls_cfg.margin,
            flip_tta=cls_cfg.flip_tta,
        )
        return cls(detector, classifier)

    def analyze(
        self, image: ImageArray, keep: Callable[[Detection], bool] | None = None
    ) -> list[Face]:
        """Faces with expression probabilities; the frame is not kept.

        ``keep`` (the privacy filter) drops detections before they are classified.
        """
        t0 = time.perf_counter()
        detections = self.detector.detect(image)
        t1 = time.perf_counter()
        self.detect_ms.add((t1 - t0) * 1000.0)
        if keep is not None:
            detections = [d for d in detections if keep(d)]
        if not detections:
            return []
        if self._gray is None or self._gray.shape != image.shape[:2]:
            self._gray = np.empty(image.shape[:2], dtype=np.uint8)
        cv2.cvtColor(image, cv2.COLOR_RGB2GRAY, dst=self._gray)
        faces = [Face(d, self.classifier.classify(self._gray, d)) for d in detections]
        self.classify_ms.add((time.perf_counter() - t1) * 1000.0 / len(faces))
        return faces
