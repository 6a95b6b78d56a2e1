"""Floors on real data from ../shared: detector recall on photos, classifier accuracy."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import bundled_models_dir, get_spec
from edge.types import Box
from tests.conftest import shared_path

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]


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


@pytest.mark.parametrize("model_id", [Config().classifier.model, "edge_fer_cnn_int8"])
def test_classifier_accuracy_floor(model_id: str) -> None:
    """The default expression model and our own trained int8 model each score top-1 >= 60 %
    on FER2013 PublicTest."""
    data = np.load(shared_path("fer2013", "public_test.npz"))
    spec = get_spec(bundled_models_dir(), model_id, "classifier")
    classifier = ExpressionClassifier(spec, threads=1, margin=0.0)
    labels = [str(x) for x in data["label_names"]]
    assert tuple(labels) == spec.labels
    predictions = np.array([np.argmax(classifier.classify_crop(img)) for img in data["images"]])
    top1 = float((predictions == data["labels"]).mean())
    assert top1 >= 0.60, f"top-1 {top1:.4f}"
