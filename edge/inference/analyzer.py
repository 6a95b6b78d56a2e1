"""Detector + classifier, with per-stage timings kept for telemetry and bench.

The pipeline calls :meth:`FaceAnalyzer.detect` and then :meth:`FaceAnalyzer.classify` on the
detections the tracker says are due (one batched invoke); :meth:`FaceAnalyzer.analyze` does
both for every face (``edge detect`` and tests). No full-frame grey copy is made: each face is
warped out of the RGB frame and only its 48x48 crop is converted.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edge.config import Config
from edge.inference.classifier import ExpressionClassifier
from edge.inference.detector import FaceDetector
from edge.inference.models import bundled_models_dir, get_spec
from edge.types import Detection, Face, FloatArray, ImageArray


class StageTimes:
    """The last ``size`` durations of one stage, in milliseconds; :attr:`count` (all
    samples so far) and :attr:`last` tell an observer whether and how long it just ran."""

    def __init__(self, size: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self.count = 0
        self.last = 0.0

    def add(self, ms: float) -> None:
        self._values.append(ms)
        self.count += 1
        self.last = ms

    def p50_p95(self) -> tuple[float, float] | None:
        """(median, 95th percentile), or None before the first sample."""
        if not self._values:
            return None
        p50, p95 = np.percentile(np.fromiter(self._values, dtype=np.float64), (50, 95))
        return float(p50), float(p95)


def load_detector(config: Config, models_dir: Path) -> FaceDetector:
    """The configured detector, its file verified and loaded (raises ``ModelError``)."""
    det = config.detector
    return FaceDetector(
        get_spec(models_dir, det.model, "detector"),
        threads=det.threads,
        score_threshold=det.score_threshold,
        nms_iou=det.nms_iou,
        tiles=det.tiles,
        auto_tile_ratio=det.auto_tile_ratio,
        tile_overlap=det.tile_overlap,
        max_faces=det.max_faces,
    )


def load_classifier(config: Config, models_dir: Path) -> ExpressionClassifier:
    """The configured classifier, its file verified and loaded (raises ``ModelError``)."""
    cls_cfg = config.classifier
    return ExpressionClassifier(
        get_spec(models_dir, cls_cfg.model, "classifier"),
        threads=cls_cfg.threads,
        margin=cls_cfg.margin,
        flip_tta=cls_cfg.flip_tta,
    )


class FaceAnalyzer:
    """Runs detection on the RGB frame, then classifies faces in one batch."""

    def __init__(self, detector: FaceDetector, classifier: ExpressionClassifier) -> None:
        self.detector = detector
        self.classifier = classifier
        self.detect_ms = StageTimes()
        self.classify_ms = StageTimes()  # per face: align + infer
        self.align_ms = StageTimes()  # per face: eye-line warp into the batch
        self.infer_ms = StageTimes()  # per face: the batched invoke divided by its faces

    @classmethod
    def from_config(cls, config: Config) -> FaceAnalyzer:
        """Load both models once (sha256 and tensor checks included). ``edge run`` and
        ``edge demo`` get theirs from the pre-flight (:class:`edge.preflight.Prepared`)."""
        models_dir = config.models.dir or bundled_models_dir()
        return cls(load_detector(config, models_dir), load_classifier(config, models_dir))

    @property
    def share_factor(self) -> float:
        """The classifier's share temperature factor (``edge.aggregation.shares``)."""
        return self.classifier.share_factor

    def detect(
        self, image: ImageArray, keep: Callable[[Detection], bool] | None = None
    ) -> list[Detection]:
        """Faces in the RGB ``image``; ``keep`` (the privacy filter) drops detections before
        anything else sees them."""
        t0 = time.perf_counter()
        detections = self.detector.detect(image)
        self.detect_ms.add((time.perf_counter() - t0) * 1000.0)
        if keep is not None:
            detections = [d for d in detections if keep(d)]
        return detections

    def classify(self, image: ImageArray, detections: Sequence[Detection]) -> FloatArray:
        """Probabilities (N x 7) of ``detections`` in the RGB ``image``, one batched invoke."""
        if not detections:
            return self.classifier.classify_faces(image, detections)
        per_face = 1000.0 / len(detections)
        t0 = time.perf_counter()
        self.classifier.crop_all(image, detections)
        t1 = time.perf_counter()
        probs = self.classifier.infer(len(detections))
        t2 = time.perf_counter()
        self.align_ms.add((t1 - t0) * per_face)
        self.infer_ms.add((t2 - t1) * per_face)
        self.classify_ms.add((t2 - t0) * per_face)
        return probs

    def analyze(
        self, image: ImageArray, keep: Callable[[Detection], bool] | None = None
    ) -> list[Face]:
        """Every face with its expression probabilities; the frame is not kept.

        ``keep`` (the privacy filter) drops detections before they are classified.
        """
        detections = self.detect(image, keep)
        probs = self.classify(image, detections)
        return [Face(d, tuple(p.tolist())) for d, p in zip(detections, probs, strict=True)]
