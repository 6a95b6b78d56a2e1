"""The docs name the default models as the config and the manifest have them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edge.config import Config
from edge.inference.models import bundled_models_dir, get_spec

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _classifier_ids() -> list[str]:
    import tomllib

    manifest = tomllib.loads((bundled_models_dir() / "manifest.toml").read_text())
    return [name for name, entry in manifest["models"].items() if entry["kind"] == "classifier"]


def test_mqtt_payload_examples_name_the_default_models() -> None:
    """Every example payload in docs/mqtt.md carries the default detector and classifier with
    their real sha256 prefixes, as `edge run` would publish them."""
    config = Config()
    models_dir = bundled_models_dir()
    expected = {
        "detector": get_spec(models_dir, config.detector.model, "detector").short_id,
        "classifier": get_spec(models_dir, config.classifier.model, "classifier").short_id,
    }
    text = (REPO / "docs" / "mqtt.md").read_text()
    examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    payloads = [doc for doc in examples if doc.get("schema") == "edge.emotions/1"]
    assert payloads
    for doc in payloads:
        assert doc["model"] == expected


def test_mqtt_confidence_names_the_default_temperature() -> None:
    """docs/mqtt.md's `confidence` row gives the default classifier's id and the calibration
    the default config applies: the manifest key of its per-face quality temperature when it
    has one (temperature_quality_flip with the default flip pass), else its scalar temperature."""
    config = Config()
    spec = get_spec(bundled_models_dir(), config.classifier.model, "classifier")
    flip = config.classifier.flip_tta
    quality = spec.temperature_quality_flip if flip else spec.temperature_quality
    temperature = spec.temperature_flip if flip else spec.temperature
    [row] = [
        line
        for line in (REPO / "docs" / "mqtt.md").read_text().splitlines()
        if line.startswith("| `confidence` |")
    ]
    assert f"`{config.classifier.model}`" in row
    if quality is not None:
        key = "temperature_quality_flip" if flip else "temperature_quality"
        assert f"`{key}`" in row
    else:
        assert f"T = {temperature:g}" in row


def test_no_doc_calls_another_classifier_the_default() -> None:
    """No line of README.md or docs/ labels a classifier other than the configured default
    as "(default)", "(default config)" or "flip (default)"."""
    default = Config().classifier.model
    others = [model for model in _classifier_ids() if model != default]
    wrong = [
        f"{path.name}:{number}: {line.strip()[:100]}"
        for path in DOCS
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for cell in line.split("|")
        for model in others
        if re.search(rf"\b{model}\b`?(,[^(|]*)?\s*\(default( config)?\)", cell)
    ]
    assert wrong == []
