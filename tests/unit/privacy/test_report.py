"""`edge privacy report`: plain-language statement derived from the config and the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import parse_text
from edge.privacy.report import EMOTIONS_FIELDS, render

REPO_ROOT = Path(__file__).resolve().parents[3]
FULL = """\
device:
  id: lobby
aggregation:
  window_s: 30
tracking:
  max_missed_s: 2.5
privacy:
  min_faces: 5
  masks:
    - units: normalized
      points: [[0, 0], [0.3, 0], [0.3, 1], [0, 1]]
    - units: pixels
      rect: [500, 0, 640, 120]
  roi:
    units: normalized
    rect: [0.25, 0.2, 0.75, 1.0]
  min_face_px: 24
  dp:
    epsilon: 0.5
    counts_fraction: 0.25
"""


def test_report_states_topics_cadence_k_epsilon_masks_and_retention() -> None:
    """With masks, ROI, size floor and DP configured, the report names each of them with the
    configured numbers, every topic, the cadence, k, track retention and DP composition."""
    text = render(parse_text(FULL), "lobby")
    for expected in (
        "edge/lobby/emotions: one window summary every 30 s (120 per hour)",
        "edge/lobby/status",
        "k = 5",
        "2 privacy mask(s)",
        "rectangle [500, 0, 640, 120] (pixels)",
        "Region of interest, rectangle [0.25, 0.2, 0.75, 1] (normalized)",
        "Faces smaller than 24 px",
        "forgotten 2.5 s after",
        "epsilon = 0.5 per window",
        "n x epsilon",
        "60 for one hour",  # 120 windows per hour x 0.5
        "Laplace scale 24",  # 3 / (0.5 x 0.25)
        "not covered by epsilon",
        "images, video",
        "track ids",
        "Art. 5(1)(f)",
        "NOT encrypted",
    ):
        assert expected in " ".join(text.split()), expected


def test_report_defaults_say_dp_off_and_no_masks() -> None:
    """With an empty config the report says there are no masks, no ROI and DP is off."""
    text = " ".join(render(parse_text(""), "pi").split())
    assert "No privacy masks" in text and "No region of interest" in text
    assert "Differential privacy: off" in text
    assert "k = 3" in text


def test_every_emotions_field_has_a_plain_description() -> None:
    """Each property of edge.emotions/1 has a plain-language line, so a new wire field cannot
    go unexplained in the report."""
    schema = json.loads((REPO_ROOT / "edge/schemas/emotions-1.schema.json").read_text())
    missing = set(schema["properties"]) - set(EMOTIONS_FIELDS)
    assert not missing
    text = render(parse_text(""), "pi")
    for field in schema["properties"]:
        assert f"- {field}: " in text


def test_cli_prints_report_and_rejects_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`edge privacy report --config` prints the report (exit 0); an invalid config gives the
    usual line-numbered error and exit 2."""
    good = tmp_path / "good.yaml"
    good.write_text(FULL)
    assert main(["privacy", "report", "--config", str(good)]) == 0
    assert "privacy report" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("privacy:\n  masks:\n    - units: normalized\n      rect: [0, 0, 2, 1]\n")
    assert main(["privacy", "report", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: privacy.masks.0" in err and "outside 0..1" in err
    assert main(["privacy", "report", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_privacy_doc_is_honest_about_composition_and_limits() -> None:
    """docs/privacy.md states that epsilon adds up over windows (n x epsilon), that the exact
    suppressed flag and telemetry are outside epsilon, the AI Act prohibition, a sign text,
    and why outputs are called expression estimates."""
    text = " ".join((REPO_ROOT / "docs" / "privacy.md").read_text().split())
    for expected in (
        "n x epsilon",
        "m x epsilon",
        "one hour in view costs 60",
        "`suppressed` flag is decided on the **exact** count",
        "`faces_now`",
        "Art. 5(1)(f)",
        "No decisions about individuals",
        "tracking.max_missed_s",
        "Camera: anonymous facial-expression statistics",
        "Why the outputs are called \"expression estimates\"",
        "Repeated windows (differencing)",
    ):
        assert expected in text, expected
