"""The schedule and crowd keys of detector: and classifier: (tiles auto, detector.fps,
classifier.interval_s ...): accepted forms, constraints, and documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import Config, ConfigError, load, parse_text

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_tiles_takes_auto_or_a_count() -> None:
    """detector.tiles is 'auto' (the default) or 1..4; anything else names the key and line."""
    assert Config().detector.tiles == "auto"
    assert parse_text("detector:\n  tiles: 2\n").detector.tiles == 2
    for bad in ("many", "5", "0"):
        with pytest.raises(ConfigError) as info:
            parse_text(f"detector:\n  tiles: {bad}\n", "edge.yaml")
        assert (info.value.issues[0].path, info.value.issues[0].line) == ("detector.tiles", 2)


def test_detector_fps_null_means_every_frame() -> None:
    """detector.fps: null detects on every frame; a rate must be > 0 and <= 120."""
    assert parse_text("detector:\n  fps: null\n").detector.fps is None
    assert parse_text("detector:\n  fps: 2.5\n").detector.fps == 2.5
    with pytest.raises(ConfigError, match=r"detector\.fps"):
        parse_text("detector:\n  fps: 0\n", "edge.yaml")


@pytest.mark.parametrize(
    ("key", "bad"),
    [("interval_s", "-1"), ("interval_s", "61"), ("max_batch", "0"), ("reclassify_score", "2")],
)
def test_classifier_schedule_constraints(key: str, bad: str) -> None:
    """The classifier's schedule keys are range-checked, each error naming its key."""
    with pytest.raises(ConfigError, match=rf"classifier\.{key}"):
        parse_text(f"classifier:\n  {key}: {bad}\n", "edge.yaml")


def test_firmware_config_documents_the_schedule_defaults() -> None:
    """firmware_config/edge.yaml states every detector and classifier key with its default."""
    shipped = load(REPO_ROOT / "firmware_config" / "edge.yaml")
    assert shipped.detector == Config().detector
    assert shipped.classifier == Config().classifier
    text = (REPO_ROOT / "firmware_config" / "edge.yaml").read_text()
    for key in Config().detector.model_dump():
        assert f"\n  {key}:" in text.split("\ndetector:")[1].split("\nclassifier:")[0], key
    for key in Config().classifier.model_dump():
        assert f"\n  {key}:" in text.split("\nclassifier:")[1].split("\nmodels:")[0], key
