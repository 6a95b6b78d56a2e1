"""Temperature scaling end to end: the runtime applies T exactly as the calibration tool fits it,
and models/calibrate.py splits and writes reproducibly."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import ModelError, bundled_models_dir, get_spec
from edge.inference.preprocess import resize_interpolation
from edge.tools.eval import metrics
from tests.scriptmodule import load_script

pytestmark = pytest.mark.integration


def _calibrate_module() -> ModuleType:
    return load_script("models/calibrate.py", "calibrate")


def test_runtime_temperature_matches_metrics() -> None:
    """ExpressionClassifier with temperature T returns apply_temperature(log p, T) of its own
    T=1 output, so a T fitted by fit_temperature means the same thing at run time."""
    spec = get_spec(bundled_models_dir(), "fer_mini_xception_int8", "classifier")
    plain = ExpressionClassifier(dataclasses.replace(spec, temperature=1.0), threads=1, margin=0)
    warm = ExpressionClassifier(dataclasses.replace(spec, temperature=1.7), threads=1, margin=0)
    rng = np.random.default_rng(3)
    for _ in range(5):
        crop = rng.integers(0, 256, (48, 48), dtype=np.uint8)
        p1 = np.asarray([plain.classify_crop(crop)])
        expected = metrics.apply_temperature(metrics.log_probs_from_probs(p1), 1.7)[0]
        assert np.asarray(warm.classify_crop(crop)) == pytest.approx(expected, abs=1e-4)


def test_stratified_split_is_reproducible_and_stratified() -> None:
    """The calibration split takes round(10 %) of every class and is the same on every run."""
    calibrate = _calibrate_module()
    labels = np.repeat(np.arange(3), [100, 7, 55])
    first = calibrate.stratified_split(labels, 0.1, 1234)
    assert np.array_equal(first, calibrate.stratified_split(labels, 0.1, 1234))
    assert np.bincount(labels[first]).tolist() == [10, 1, 6]


def test_write_temperature_changes_only_that_model(tmp_path: Path) -> None:
    """--write replaces the temperature line of the named model and nothing else."""
    calibrate = _calibrate_module()
    manifest = tmp_path / "manifest.toml"
    shutil.copy(bundled_models_dir() / "manifest.toml", manifest)
    before = tomllib.loads(manifest.read_text())["models"]
    calibrate.write_temperature(manifest, "fer_mini_xception", 1.234, "test note")
    after = tomllib.loads(manifest.read_text())["models"]
    assert after["fer_mini_xception"]["temperature"] == 1.234
    after["fer_mini_xception"]["temperature"] = before["fer_mini_xception"]["temperature"]
    assert after == before


def test_write_quality_table_adds_it_to_that_model_only(tmp_path: Path) -> None:
    """--quality --write adds a temperature_quality table to a model that had none, and the
    loader reads it back as the same coefficients; no other model changes."""
    calibrate = _calibrate_module()
    fit = load_script("models/quality_fit.py", "quality_fit")
    models = tmp_path / "models"
    shutil.copytree(bundled_models_dir(), models, ignore=shutil.ignore_patterns("train", "*.py"))
    manifest = models / "manifest.toml"
    before = tomllib.loads(manifest.read_text())["models"]
    table = {"intercept": -0.4, "sharpness": -0.05, "contrast": -0.09, "entropy": 0.12,
             "min": 0.2, "max": 5.0}  # fmt: skip
    calibrate.write_temperature(
        manifest, "edge_fer_cnn_int8", fit.toml_table(table), "note", key="temperature_quality"
    )
    after = tomllib.loads(manifest.read_text())["models"]
    assert after["edge_fer_cnn_int8"].pop("temperature_quality") == table
    assert after == before
    spec = get_spec(models, "edge_fer_cnn_int8", "classifier")
    assert spec.temperature_quality is not None
    assert spec.temperature_quality.describe() == table


def test_write_share_factors_inserts_once_then_replaces(tmp_path: Path) -> None:
    """--shares --write adds share_temperature_factor and _flip lines to a model without them
    (in the order written, after its temperature lines), a second write replaces each line
    instead of adding one, and the loader reads the values back; no other model changes."""
    calibrate = _calibrate_module()
    models = tmp_path / "models"
    shutil.copytree(bundled_models_dir(), models, ignore=shutil.ignore_patterns("train", "*.py"))
    manifest = models / "manifest.toml"
    original = manifest.read_text()
    before = tomllib.loads(original)["models"]
    for plain, flip in ((1.2, 1.25), (1.3, 1.35)):
        calibrate.write_temperature(
            manifest, "edge_fer_cnn_int8", plain, "n", key="share_temperature_factor"
        )
        calibrate.write_temperature(
            manifest, "edge_fer_cnn_int8", flip, "n", key="share_temperature_factor_flip"
        )
    text = manifest.read_text()
    for key in ("share_temperature_factor = ", "share_temperature_factor_flip = "):
        assert text.count(key) == original.count(key) + 1  # added once, then replaced
    section = text[text.index("[models.edge_fer_cnn_int8]") :]
    assert section.index("share_temperature_factor = 1.3") < section.index(
        "share_temperature_factor_flip = 1.35"
    )
    after = tomllib.loads(text)["models"]
    entry = after["edge_fer_cnn_int8"]
    assert (entry.pop("share_temperature_factor"), entry.pop("share_temperature_factor_flip")) == (
        1.3,
        1.35,
    )
    assert after == before
    spec = get_spec(models, "edge_fer_cnn_int8", "classifier")
    assert (spec.share_temperature_factor, spec.share_temperature_factor_flip) == (1.3, 1.35)


def test_resize_mode_from_manifest_is_checked() -> None:
    """preprocess.resize picks the interpolation; an unknown mode is a ModelError naming it."""
    spec = get_spec(bundled_models_dir(), "blazeface_full_range", "detector")
    assert resize_interpolation(spec, shrinking=True) == resize_interpolation(
        spec, shrinking=False
    )  # "linear" both ways, as MediaPipe
    bad = dataclasses.replace(spec, preprocess=dataclasses.replace(spec.preprocess, resize="x"))
    with pytest.raises(ModelError, match=r"preprocess\.resize 'x'"):
        resize_interpolation(bad, shrinking=True)


def test_mixed_calibration_copies_cover_every_condition_once_per_face() -> None:
    """--mix deals the 13 families x given levels over the faces: every face gets exactly one
    degraded copy of its own shape, each (family, level) pair about equally often, and the same
    seed gives the same copies (the fit is reproducible)."""
    calibrate = _calibrate_module()
    rng = np.random.default_rng(5)
    faces = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(52)]
    first, names = calibrate.perturbed_copies(faces, ["mild", "moderate"], 1234)
    again, names2 = calibrate.perturbed_copies(faces, ["mild", "moderate"], 1234)
    assert names == names2 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert len(first) == len(faces) and all(x.shape == (48, 48) for x in first)
    counts = {name: names.count(name) for name in set(names)}
    assert len(counts) == 26 and set(counts.values()) == {2}
    assert calibrate.parse_mix("mild, moderate") == ["mild", "moderate"]
    with pytest.raises(SystemExit, match="--mix"):
        calibrate.parse_mix("gentle")
