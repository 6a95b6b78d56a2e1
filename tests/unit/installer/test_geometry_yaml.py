"""The setup view's geometry (normalised <-> pixels, polygon validation) and its YAML
round-trip (masks and region written into the file, comments and layout kept)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config import ConfigError, parse_text
from edge.config.privacy import Region
from edge.installer.geometry import (
    parse_polygons,
    polygon_problem,
    region_normalised,
    to_normalised,
    to_pixels,
)
from edge.installer.yamledit import save_regions, with_regions
from tests.conftest import REPO_ROOT


@given(st.integers(64, 4096), st.integers(64, 4096),
       st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8))
def test_normalised_pixels_round_trip_within_a_pixel(
    width: int, height: int, points: list[tuple[float, float]]
) -> None:
    """Pixels -> normalised (4 decimals) -> pixels moves no vertex by more than half a pixel
    for frames up to 4096 px."""
    pixels = to_pixels(points, width, height)
    back = to_pixels(to_normalised(pixels, width, height), width, height)
    for (x0, y0), (x1, y1) in zip(pixels, back, strict=True):
        assert abs(x0 - x1) <= 0.5 and abs(y0 - y1) <= 0.5


def test_pixel_and_rect_regions_show_as_normalised_polygons() -> None:
    """An existing pixel rectangle is shown as the normalised polygon that covers the same
    pixels, clipped to the frame."""
    rect = Region(units="pixels", rect=(320, 0, 700, 240))
    assert region_normalised(rect, 640, 480) == [(0.5, 0.0), (1.0, 0.0), (1.0, 0.5), (0.5, 0.5)]
    poly = Region(units="normalized", points=[(0.1, 0.1), (0.2, 0.1), (0.2, 0.3)])
    assert region_normalised(poly, 640, 480) == [(0.1, 0.1), (0.2, 0.1), (0.2, 0.3)]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([[0, 0], [1, 0]], "3 to"),
        ([[0, 0], [1, 0], [1, 1.5]], "outside the picture"),
        ([[0, 0], [0.5, 0.5], [1, 1]], "no area"),
        ([[0, 0], [1, 1], [1, 0.2], [0, 0.5]], "crosses itself"),
        ([[0, 0], [1, 0], "x"], "not [x, y]"),
        ([[0, 0], [1, 0], [True, 1]], "not [x, y]"),
    ],
)
def test_bad_polygons_are_named(raw: object, problem: str) -> None:
    """Too few points, points outside 0..1, no area, a self-crossing outline and malformed
    points are each refused with a message saying which."""
    message = polygon_problem(raw, "mask 1")
    assert message is not None and problem in message and message.startswith("mask 1")


def test_parse_polygons_collects_every_problem() -> None:
    """A save request with two bad shapes names both; a good one parses to float tuples."""
    with pytest.raises(ValueError, match=r"mask 2.*region of interest"):
        parse_polygons({"masks": [[[0, 0], [1, 0], [1, 1]], [[0, 0]]], "roi": [[0, 0]]})
    with pytest.raises(ValueError, match="expected"):
        parse_polygons({"masks": [], "extra": 1})
    masks, roi = parse_polygons({"masks": [[[0, 0], [0.5, 0], [0.5, 0.5]]], "roi": None})
    assert masks == [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]] and roi is None


def test_round_trip_on_the_documented_example_keeps_every_comment() -> None:
    """Writing masks and a region into firmware_config/edge.yaml changes only those keys
    (every comment line kept, nothing else moved), the result validates with the regions in
    normalised units, and writing none back gives the original file byte for byte."""
    original = (REPO_ROOT / "firmware_config" / "edge.yaml").read_text(encoding="utf-8")
    mask = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]
    roi = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
    changed = with_regions(original, [mask, mask], roi)
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in changed.splitlines() if line.lstrip().startswith("#")] == comments
    config = parse_text(changed)
    assert [m.units for m in config.privacy.masks] == ["normalized", "normalized"]
    assert config.privacy.roi is not None and config.privacy.roi.polygon() == roi
    assert config.model_dump(exclude={"privacy"}) == parse_text(original).model_dump(
        exclude={"privacy"})
    assert with_regions(changed, [], None) == original


def test_inline_comments_and_missing_section() -> None:
    """A file without privacy: gets the section appended; inline comments elsewhere stay."""
    text = "# top\nmqtt:\n  host: broker  # the broker\n"
    changed = with_regions(text, [[(0, 0), (1, 0), (1, 1)]], None)
    assert changed.startswith("# top\nmqtt:\n  host: broker  # the broker\nprivacy:\n")
    assert parse_text(changed).privacy.masks[0].units == "normalized"


def test_save_validates_like_config_check_and_leaves_a_bad_file_alone(tmp_path: Path) -> None:
    """save_regions writes a valid result; when the file would fail `edge config check`
    (here: an unknown key elsewhere) it raises ConfigError and the file is unchanged, with
    no temporary file left behind."""
    good = tmp_path / "edge.yaml"
    good.write_text("# keep me\nprivacy:\n  min_faces: 3  # k\n")
    save_regions(good, [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]], None, {})
    assert "# keep me" in good.read_text() and "min_faces: 3  # k" in good.read_text()
    assert len(parse_text(good.read_text()).privacy.masks) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  hots: x\n")
    with pytest.raises(ConfigError) as info:
        save_regions(bad, [[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)]], None, {})
    assert info.value.file == str(bad) and info.value.issues[0].path == "mqtt.hots"
    assert bad.read_text() == "mqtt:\n  hots: x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "edge.yaml"]
