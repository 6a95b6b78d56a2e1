"""Floors on real data from ../shared: detector recall on photos, classifier accuracy."""

from __future__ import annotations

import functools
import json

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import bundled_models_dir, get_spec
from edge.tools.eval.metrics import confusion_matrix, macro_f1, top1
from edge.types import Box
from tests.conftest import shared_path

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]

PREVIOUS_DEFAULT = "fer_mini_xception_int8"
INT8_CLASSIFIERS = ["edge_fer_cnn_x2_int8", "edge_fer_cnn_int8", PREVIOUS_DEFAULT]


def test_default_detector_recall_on_scenes() -> None:
    """The default detector finds >= 90 % of annotated faces (IoU >= 0.3), none on dogs.jpg."""
    scenes = shared_path("scenes")
    annotations = json.loads((scenes / "boxes.json").read_text())["images"]
    detector = FaceAnalyzer.from_config(Config()).detector
    found = total = 0
    for name, boxes in annotations.items():
        bgr = cv2.imread(str(scenes / name))
        assert bgr is not None, name
        detections = detector.detect(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8))
        if name == "dogs.jpg":
            assert detections == [], "a face was reported on dogs.jpg"
            continue
        if boxes is None:
            continue
        unused = list(detections)
        for left, top, width, height in boxes:
            truth = Box(left, top, left + width, top + height)
            total += 1
            best = max(unused, key=lambda d: d.box.iou(truth), default=None)
            if best is not None and best.box.iou(truth) >= 0.3:
                found += 1
                unused.remove(best)
    assert total >= 40
    recall = found / total
    assert recall >= 0.90, f"recall {found}/{total} = {recall:.3f}"


@functools.cache
def public_test_scores(model_id: str, flip_tta: bool = False) -> tuple[float, float]:
    """(top-1, macro-F1) of a bundled classifier on FER2013 PublicTest, through the runtime's
    own ``classify_crop`` (input LUT, int8 invoke, dequantization, temperature)."""
    data = np.load(shared_path("fer2013", "public_test.npz"))
    spec = get_spec(bundled_models_dir(), model_id, "classifier")
    classifier = ExpressionClassifier(spec, threads=1, margin=0.0, flip_tta=flip_tta)
    assert tuple(str(x) for x in data["label_names"]) == spec.labels
    predictions = np.array([np.argmax(classifier.classify_crop(img)) for img in data["images"]])
    cm = confusion_matrix(data["labels"], predictions, len(spec.labels))
    return top1(cm), macro_f1(cm)


@pytest.mark.parametrize("model_id", INT8_CLASSIFIERS)
def test_classifier_accuracy_floor(model_id: str) -> None:
    """Every bundled int8 expression model scores top-1 >= 60 % and macro-F1 >= 55 % on FER2013
    PublicTest."""
    accuracy, f1 = public_test_scores(model_id)
    assert accuracy >= 0.60, f"top-1 {accuracy:.4f}"
    assert f1 >= 0.55, f"macro-F1 {f1:.4f}"


def test_default_classifier_beats_the_previous_default() -> None:
    """The shipping rule of issue 6, kept true: the default expression model beats the one it
    replaced (fer_mini_xception_int8) on PublicTest in both top-1 and macro-F1."""
    default = public_test_scores(Config().classifier.model)
    previous = public_test_scores(PREVIOUS_DEFAULT)
    assert default[0] > previous[0], f"top-1 {default[0]:.4f} vs {previous[0]:.4f}"
    assert default[1] > previous[1], f"macro-F1 {default[1]:.4f} vs {previous[1]:.4f}"
