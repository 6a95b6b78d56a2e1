"""scripts/crop_path.py: the crop-path sweep runs the runtime's detector and crop path on
labelled synthetic frames, saves what --compare reads, and refuses bad input with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.scriptmodule import load_script

pytestmark = pytest.mark.integration


def _script() -> ModuleType:
    return load_script("scripts/crop_path.py", "edge_crop_path_script")


@pytest.mark.shared_data
def test_sweep_detects_and_scores_faces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On 60 FER+ faces shown 64 px wide, the detector finds most of them, every setting is
    scored on the same detected faces (the reference too), and --compare reads the saved
    probabilities: a setting compared with itself differs by exactly 0."""
    saved = tmp_path / "probs.npz"
    data = shared_path("ferplus", "valid.npz")
    argv = ["--data", str(data), "--limit", "60", "--sizes", "64", "--json", "--save", str(saved)]
    assert _script().main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    size = result["sizes"]["64"]
    assert result["faces"] == 60 and size["detected"] >= 0.6
    assert 0.7 < size["box_side_over_face"] < 1.0  # the box is a bit inside FER's framing
    rows = size["rows"]
    assert {"reference", "default", "margin=0.3", "shrink=area", "enlarge=cubic"} <= set(rows)
    assert len({row["n"] for row in rows.values()}) == 1
    assert all(0.0 <= row["top1"] <= 1.0 and row["share_l1"] is not None for row in rows.values())
    assert int(np.load(saved)["found_64"].sum()) == size["detected_n"]
    assert _script().main(["--compare", str(saved), "default", "default"]) == 0
    zero = "+0.0000 [+0.0000, +0.0000]"
    assert f"| 64 | {size['rows']['default']['n']} | {zero} | {zero} |" in capsys.readouterr().out


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing data file and an unknown --extra key each exit 2 with a message naming it."""
    missing = tmp_path / "nope.npz"
    assert _script().main(["--data", str(missing), "--limit", "1"]) == 2
    assert f"{missing} does not exist" in capsys.readouterr().err
    assert _script().main(["--extra", "zoom=2"]) == 2
    assert "unknown key 'zoom'" in capsys.readouterr().err
