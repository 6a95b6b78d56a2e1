"""Model loading: sha256 and tensor checks, and the real models on a real face."""

from __future__ import annotations

import dataclasses
import shutil
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import (
    ModelError,
    bundled_models_dir,
    get_spec,
    load_model,
    read_manifest,
)
from edge.inference.quality import QualityFeatures, QualityTemperature, temperatures
from edge.types import EXPRESSIONS

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "edge" / "data" / "sample.mp4"


def sample_frame(index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(SAMPLE))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def test_every_manifest_model_loads_and_matches() -> None:
    """Every model in the manifest passes its sha256, shape, dtype and quantization checks."""
    specs = read_manifest(bundled_models_dir())
    assert {"blazeface_full_range", "blazeface_short_range", "fer_mini_xception_int8"} <= set(specs)
    for spec in specs.values():
        load_model(spec, threads=1)


def test_default_classifier_is_full_integer() -> None:
    """The default expression model takes and returns int8 (full-integer quantization)."""
    spec = get_spec(bundled_models_dir(), Config().classifier.model, "classifier")
    assert (spec.input_dtype, spec.output_dtype) == ("int8", "int8")
    assert spec.labels == EXPRESSIONS


def _copy_models(tmp_path: Path) -> Path:
    dest = tmp_path / "models"
    shutil.copytree(bundled_models_dir(), dest, ignore=shutil.ignore_patterns("train", "*.py"))
    return dest


def test_corrupt_model_file_is_refused(tmp_path: Path) -> None:
    """A model file whose sha256 differs from the manifest stops start-up with the fix."""
    models = _copy_models(tmp_path)
    path = models / "fer_mini_xception_int8.tflite"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256.*models/build.py"):
        load_model(get_spec(models, "fer_mini_xception_int8", "classifier"), threads=1)


def test_missing_model_file_is_explained(tmp_path: Path) -> None:
    """A missing model file names the file and how to rebuild it."""
    models = _copy_models(tmp_path)
    (models / "face_detection_full_range.tflite").unlink()
    with pytest.raises(ModelError, match="model file missing"):
        load_model(get_spec(models, "blazeface_full_range", "detector"), threads=1)


def test_manifest_shape_mismatch(tmp_path: Path) -> None:
    """A manifest whose input shape disagrees with the file is reported, not guessed around."""
    models = _copy_models(tmp_path)
    manifest = models / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("[1, 64, 64, 1]", "[1, 48, 48, 1]", 1))
    with pytest.raises(ModelError, match="input shape"):
        load_model(get_spec(models, "fer_mini_xception_int8", "classifier"), threads=1)


def test_unknown_model_id_lists_alternatives() -> None:
    """Asking for a model id that is not in the manifest lists the available ones."""
    with pytest.raises(ModelError, match="blazeface_short_range"):
        get_spec(bundled_models_dir(), "yolo", "detector")


def test_kind_mismatch() -> None:
    """A classifier id used as the detector is refused."""
    with pytest.raises(ModelError, match="not a detector"):
        get_spec(bundled_models_dir(), "fer_mini_xception_int8", "detector")


def test_real_models_find_and_classify_the_sample_faces() -> None:
    """On a frame of the bundled clip, three faces are found and each reads as smiling."""
    analyzer = FaceAnalyzer.from_config(Config())
    faces = analyzer.analyze(sample_frame(70))
    assert len(faces) == 3
    for face in faces:
        assert sum(face.probs) == pytest.approx(1.0, abs=1e-5)
        assert EXPRESSIONS[int(np.argmax(face.probs))] == "happy"
        assert face.detection.box.width > 40


@pytest.mark.parametrize("angle_deg", [-25.0, 0.0, 25.0])
def test_alignment_levels_the_eye_line(angle_deg: float) -> None:
    """In the aligned crop of a tilted face the two eyes sit on one row, and it still smiles."""
    analyzer = FaceAnalyzer.from_config(Config())
    frame = sample_frame(30)
    h, w = frame.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    tilted = np.asarray(cv2.warpAffine(frame, rot, (w, h)), dtype=np.uint8)
    det = max(analyzer.detector.detect(tilted), key=lambda d: d.box.area)
    clf: ExpressionClassifier = analyzer.classifier
    to_crop = cv2.invertAffineTransform(clf.alignment_matrix(det))
    eyes = np.array([[*det.right_eye, 1.0], [*det.left_eye, 1.0]]) @ to_crop.T
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.5  # same row, to half a crop pixel
    assert 0 < eyes[:, 0].min() < eyes[:, 0].max() < clf.input_size  # both inside, apart
    gray = np.asarray(cv2.cvtColor(tilted, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    assert EXPRESSIONS[int(np.argmax(clf.classify(gray, det)))] == "happy"


def test_flip_tta_averages_the_face_and_its_mirror_image() -> None:
    """With flip_tta the classifier returns the mean of the plain outputs for the crop and its
    left-right mirror, so a face and its mirror image get the same estimate."""
    spec = get_spec(bundled_models_dir(), Config().classifier.model, "classifier")
    spec = spec.with_temperature(1.0)
    plain = ExpressionClassifier(spec, threads=1, margin=0.1)
    tta = ExpressionClassifier(spec, threads=1, margin=0.1, flip_tta=True)
    assert (plain.invokes_per_face, tta.invokes_per_face) == (1, 2)
    frame = sample_frame(70)
    gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    det = max(FaceAnalyzer.from_config(Config()).detector.detect(frame), key=lambda d: d.box.area)
    crop = plain.align(gray, det).copy()
    crop[:, : crop.shape[1] // 2] = 128  # cover one half so the face is not symmetric
    mirror = np.ascontiguousarray(crop[:, ::-1])
    one, other = np.array(plain.classify_crop(crop)), np.array(plain.classify_crop(mirror))
    assert not np.allclose(one, other, atol=1e-4)  # the mirror really is a different input
    expected = (one + other) / 2
    # within a quarter of the int8 output step (1/256): float32 batch arithmetic vs float64 here
    np.testing.assert_allclose(tta.classify_crop(crop), expected / expected.sum(), atol=1e-3)
    np.testing.assert_allclose(tta.classify_crop(mirror), tta.classify_crop(crop), atol=1e-6)
    assert sum(tta.classify(gray, det)) == pytest.approx(1.0, abs=1e-5)


def test_flip_tta_uses_its_own_temperature() -> None:
    """A manifest's temperature_flip is applied to the flip-TTA output and temperature to the
    single pass: each mode gets the temperature fitted for it."""
    base = dataclasses.replace(
        get_spec(bundled_models_dir(), Config().classifier.model, "classifier"),
        temperature_quality=None,
        temperature_quality_flip=None,
    )
    raw = dataclasses.replace(base, temperature=1.0, temperature_flip=None)
    scaled = dataclasses.replace(base, temperature=0.9, temperature_flip=0.5)
    frame = sample_frame(70)
    gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    det = max(FaceAnalyzer.from_config(Config()).detector.detect(frame), key=lambda d: d.box.area)
    crop = ExpressionClassifier(raw, threads=1, margin=0.1).align(gray, det).copy()
    crop[:, : crop.shape[1] // 3] = 128  # not saturated, not symmetric
    for flip, temperature in ((False, 0.9), (True, 0.5)):
        plain = np.array(ExpressionClassifier(raw, threads=1, margin=0.1, flip_tta=flip)
                         .classify_crop(crop))  # fmt: skip
        clf = ExpressionClassifier(scaled, threads=1, margin=0.1, flip_tta=flip)
        assert clf.temperature == temperature
        expected = np.exp(np.log(np.maximum(plain, 1e-6)) / temperature)
        np.testing.assert_allclose(clf.classify_crop(crop), expected / expected.sum(), atol=1e-5)


@pytest.mark.parametrize("value", ["0.0", "-1.5", "nan"])
def test_bad_temperature_in_manifest_is_refused(tmp_path: Path, value: str) -> None:
    """A temperature_flip that is not > 0 is a malformed manifest entry naming the key and fix."""
    models = _copy_models(tmp_path)
    manifest = models / "manifest.toml"
    text = manifest.read_text()
    manifest.write_text(text.replace("temperature_flip = 0.858", f"temperature_flip = {value}", 1))
    with pytest.raises(ModelError, match=r"temperature_flip = .* must be > 0"):
        get_spec(models, "edge_fer_cnn_int8", "classifier")


def test_quality_temperature_scales_each_face_by_its_own_crop() -> None:
    """With a temperature_quality table each face gets T from its own crop and output: a sharp
    and a blurred crop get different temperatures, each output is softmax(log p / T) of the
    uncalibrated output (so the top class never changes), and the flip pass uses the _flip
    table."""
    base = get_spec(bundled_models_dir(), Config().classifier.model, "classifier")
    raw = base.with_temperature(1.0)
    one = QualityTemperature(-0.3, -0.8, 0.1, 0.2)
    flip = QualityTemperature(0.4, 0.0, 0.0, 0.0)
    spec = dataclasses.replace(raw, temperature_quality=one, temperature_quality_flip=flip)
    frame = sample_frame(70)
    gray = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    det = max(FaceAnalyzer.from_config(Config()).detector.detect(frame), key=lambda d: d.box.area)
    sharp = ExpressionClassifier(raw, threads=1, margin=0.1).align(gray, det).copy()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    seen = []
    for crop in (sharp, blurred):
        plain = np.array(ExpressionClassifier(raw, threads=1, margin=0.1).classify_crop(crop))
        feats = QualityFeatures(48).crop_features(crop[None])
        t = float(temperatures(one, feats, plain[None])[0])
        expected = np.exp(np.log(np.maximum(plain, 1e-6)) / t)
        got = ExpressionClassifier(spec, threads=1, margin=0.1).classify_crop(crop)
        np.testing.assert_allclose(got, expected / expected.sum(), atol=1e-5)
        assert int(np.argmax(got)) == int(np.argmax(plain))
        seen.append(t)
        tta_plain = np.array(
            ExpressionClassifier(raw, threads=1, margin=0.1, flip_tta=True).classify_crop(crop)
        )
        tta = ExpressionClassifier(spec, threads=1, margin=0.1, flip_tta=True)
        assert tta.temperature_quality == flip
        expected = np.exp(np.log(np.maximum(tta_plain, 1e-6)) / np.exp(0.4))
        np.testing.assert_allclose(tta.classify_crop(crop), expected / expected.sum(), atol=1e-5)
    assert seen[1] > seen[0] * 1.2  # blur raises the temperature under this table


def test_bad_quality_table_in_manifest_is_refused(tmp_path: Path) -> None:
    """A temperature_quality_flip table with a missing coefficient is a malformed manifest
    entry that names the model, the key and the fix."""
    models = _copy_models(tmp_path)
    manifest = models / "manifest.toml"
    text = manifest.read_text()
    manifest.write_text(
        text.replace(
            "temperature_flip = 0.858",
            "temperature_flip = 0.858\ntemperature_quality_flip = { intercept = -0.5 }",
            1,
        )
    )
    with pytest.raises(ModelError, match=r"'edge_fer_cnn_int8' is malformed: "
                       r"temperature_quality_flip\.sharpness is missing; rerun"):  # fmt: skip
        get_spec(models, "edge_fer_cnn_int8", "classifier")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("share_temperature_factor", "0.1"),
        ("share_temperature_factor", "11"),
        ("share_temperature_factor", "true"),
        ("share_temperature_factor", '"1.2"'),
        ("share_temperature_factor", "nan"),
        ("share_temperature_factor_flip", "0"),
    ],
)
def test_bad_share_factor_in_manifest_is_refused(tmp_path: Path, key: str, value: str) -> None:
    """A share_temperature_factor[_flip] that is not a number from 0.25 to 10 is a malformed
    manifest entry that names the model, the key, the range and the command that refits it."""
    models = _copy_models(tmp_path)
    manifest = models / "manifest.toml"
    text = manifest.read_text()
    manifest.write_text(
        text.replace("temperature_flip = 0.858", f"temperature_flip = 0.858\n{key} = {value}", 1)
    )
    flip = "--flip-tta " if key.endswith("_flip") else ""
    with pytest.raises(ModelError, match=rf"'edge_fer_cnn_int8' is malformed: {key} = .* must be "
                       r"a number from 0\.25 to 10 .* rerun models/calibrate\.py --model ID "
                       rf"--holdout ferplus --shares {flip}--write"):  # fmt: skip
        get_spec(models, "edge_fer_cnn_int8", "classifier")


def test_share_factor_follows_the_mode_and_reaches_the_pipeline() -> None:
    """The classifier reports the manifest's share_temperature_factor_flip with flip TTA and
    share_temperature_factor without (1.0 for an entry without either, and with an overridden
    temperature); the pipeline built from a config hands the default's to its aggregator."""
    spec = get_spec(bundled_models_dir(), Config().classifier.model, "classifier")
    assert spec.share_temperature_factor_flip is not None
    both = dataclasses.replace(
        spec, share_temperature_factor=1.1, share_temperature_factor_flip=1.4
    )
    assert ExpressionClassifier(both, threads=1, margin=0.1, flip_tta=True).share_factor == 1.4
    assert ExpressionClassifier(both, threads=1, margin=0.1, flip_tta=False).share_factor == 1.1
    no_flip = dataclasses.replace(both, share_temperature_factor_flip=None)
    assert ExpressionClassifier(no_flip, threads=1, margin=0.1, flip_tta=True).share_factor == 1.1
    raw = ExpressionClassifier(spec.with_temperature(1.0), threads=1, margin=0.1)
    assert raw.share_factor == 1.0
    old = get_spec(bundled_models_dir(), "edge_fer_cnn_int8", "classifier")
    assert (old.share_temperature_factor, old.share_temperature_factor_flip) == (1.0, None)

    from edge.pipeline import Pipeline, SystemClock

    analyzer = FaceAnalyzer.from_config(Config())
    assert analyzer.share_factor == spec.share_temperature_factor_flip  # flip TTA is the default
    sink = types.SimpleNamespace(window_closed=lambda window: None)
    pipeline = Pipeline.from_config(Config(), analyzer, sink, SystemClock())  # type: ignore[arg-type]
    assert pipeline.aggregator.share_factor == analyzer.share_factor
