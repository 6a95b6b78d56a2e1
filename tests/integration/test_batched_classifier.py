"""The batched classifier: one invoke for many faces gives each face the probabilities it gets
alone, the interpreter is resized (never rebuilt) as the batch changes, and crops from the RGB
frame match crops from the grey frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import bundled_models_dir, get_spec
from tests.integration.test_models import sample_frame

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("flip_tta", [False, True])
def test_one_batch_equals_one_face_at_a_time(flip_tta: bool) -> None:
    """classify_faces over N faces (mirrors in the same batch with flip TTA) returns, row by
    row, what classify returns for each face alone."""
    spec = get_spec(bundled_models_dir(), Config().classifier.model, "classifier")
    clf = ExpressionClassifier(spec, threads=1, margin=0.1, flip_tta=flip_tta)
    frame = sample_frame(70)
    gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    detections = FaceAnalyzer.from_config(Config()).detector.detect(frame)
    assert len(detections) == 3
    batch = clf.classify_faces(gray, detections * 7)  # 21 faces: beyond the initial slots
    assert batch.shape == (21, 7)
    assert clf.batch_rows == 21 * clf.invokes_per_face
    for row, detection in zip(batch, detections * 7, strict=True):
        np.testing.assert_allclose(row, clf.classify(gray, detection), atol=1e-6)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-5)


def test_batch_size_changes_resize_the_same_interpreter() -> None:
    """Batches of changing size reuse one interpreter: its input is resized to the new row
    count, and a repeated batch gives the same output as before."""
    analyzer = FaceAnalyzer.from_config(Config())
    clf = analyzer.classifier
    interpreter = clf._interpreter
    frame = sample_frame(70)
    detections = analyzer.detector.detect(frame)
    first = clf.classify_faces(frame, detections).copy()
    for count in (1, 3, 2, 0, 3):
        assert clf.classify_faces(frame, detections[:count]).shape == (count, 7)
    np.testing.assert_allclose(clf.classify_faces(frame, detections), first, atol=1e-7)
    assert clf._interpreter is interpreter


def test_rgb_crop_matches_grey_crop() -> None:
    """Warping the face out of the RGB frame and greying the 48x48 crop reads the face as
    greying the whole frame first does (to within rounding)."""
    analyzer = FaceAnalyzer.from_config(Config())
    frame = sample_frame(70)
    gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    detections = analyzer.detector.detect(frame)
    from_rgb = analyzer.classifier.classify_faces(frame, detections)
    from_gray = analyzer.classifier.classify_faces(gray, detections)
    np.testing.assert_allclose(from_rgb, from_gray, atol=0.03)
    assert (from_rgb.argmax(axis=1) == from_gray.argmax(axis=1)).all()
