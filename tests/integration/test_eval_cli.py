"""`edge eval` as a user runs it: real classifier, real data, exit codes for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.cli import main
from tests.conftest import shared_path

pytestmark = pytest.mark.integration


def _eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["eval", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else out), err


@pytest.mark.shared_data
def test_eval_public_test_floor(capsys: pytest.CaptureFixture[str]) -> None:
    """On FER2013 PublicTest the model trained on its labels (edge_fer_cnn_int8) reaches top-1
    >= 0.60, macro-F1 >= 0.55 and ECE <= 0.10, with every class present and a confusion matrix
    that sums to N. (The default, trained on the crowd votes, is scored on FER+ below.)"""
    code, report, _ = _eval(
        capsys, str(shared_path("fer2013", "public_test.npz")), "--json",
        "--model", "edge_fer_cnn_int8",
    )
    assert code == 0
    overall = report["overall"]
    assert overall["n"] == 3589
    assert overall["top1"] >= 0.60
    assert overall["macro_f1"] >= 0.55
    assert 0.0 <= overall["ece"] <= 0.10
    assert [c["support"] for c in overall["classes"]] == [467, 56, 496, 895, 653, 415, 607]
    assert sum(map(sum, overall["confusion"]["matrix"])) == 3589
    assert len(overall["reliability"]) == 15


@pytest.mark.shared_data
def test_eval_flip_tta_is_reported_and_helps(capsys: pytest.CaptureFixture[str]) -> None:
    """--flip-tta is recorded in the report and, against the FER+ crowd majority, averaging each
    face with its mirror image scores at least as well as one pass in top-1 and macro-F1."""
    data = str(shared_path("ferplus", "valid.npz"))
    code_plain, plain, _ = _eval(capsys, data, "--json", "--no-flip-tta")
    code_tta, tta, _ = _eval(capsys, data, "--json", "--flip-tta")
    assert (code_plain, code_tta) == (0, 0)
    assert (plain["flip_tta"], tta["flip_tta"]) == (False, True)
    assert tta["overall"]["top1"] >= plain["overall"]["top1"]
    assert tta["overall"]["macro_f1"] >= plain["overall"]["macro_f1"]


def _faces_folder(root: Path) -> Path:
    """Two labels only (happy, surprise), 3 images each, cut from FER2013 PublicTest."""
    data = np.load(shared_path("fer2013", "public_test.npz"))
    for label, index in (("happy", 3), ("surprise", 5)):
        (root / label).mkdir(parents=True)
        rows = np.flatnonzero(data["labels"] == index)[:3]
        for i, row in enumerate(rows):
            cv2.imwrite(str(root / label / f"{label}{i}.png"), data["images"][row])
    return root


@pytest.mark.shared_data
def test_eval_folder_with_absent_classes_and_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder dataset lacking 5 of the 7 model classes: those rows have support 0 and no
    recall, macro-F1 averages only happy and surprise, and --groups reports each group and
    the largest gap between them."""
    root = _faces_folder(tmp_path / "faces")
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "key,group\nhappy0.png,a\nhappy1.png,a\nsurprise0.png,a\n"
        "happy/happy2.png,b\nsurprise1.png,b\nsurprise2.png,b\n"
    )
    code, report, _ = _eval(capsys, str(root), "--json", "--groups", str(groups))
    assert code == 0
    overall = report["overall"]
    assert overall["n"] == 6
    assert overall["macro_f1_over"] == ["happy", "surprise"]
    absent = {c["label"]: c for c in overall["classes"] if c["support"] == 0}
    assert set(absent) == {"angry", "disgust", "fear", "sad", "neutral"}
    assert all(c["recall"] is None and c["f1"] is None for c in absent.values())
    assert set(report["groups"]["groups"]) == {"a", "b"}
    assert report["groups"]["groups"]["a"]["n"] == 3
    gap = report["groups"]["gap"]["top1"]
    tops = [g["top1"] for g in report["groups"]["groups"].values()]
    assert gap["value"] == pytest.approx(max(tops) - min(tops))


@pytest.mark.shared_data
def test_eval_markdown_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the report is a Markdown table; --plot writes a PNG (needs matplotlib,
    the `plot` extra)."""
    root = _faces_folder(tmp_path / "faces")
    png = tmp_path / "eval.png"
    code, out, _ = _eval(capsys, str(root), "--plot", str(png))
    assert code == 0
    assert "| top1 | macro_f1 |" in out
    assert re.search(r"\| disgust \| (-|0\.000) \| - \| - \| 0 \|", out)  # absent class row
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.npz", "missing.npz does not exist"),
        (
            lambda p: (np.savez(p / "x.npz", images=np.zeros((1, 4, 4), np.uint8)), p / "x.npz")[1],
            "missing array(s) labels, label_names",
        ),
    ],
)
def test_eval_bad_data_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    """A missing DATA file or an .npz without labels exits 2 and names the problem."""
    code, _, err = _eval(capsys, str(make(tmp_path)))
    assert code == 2
    assert message in err


def test_eval_bad_groups_csv_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A groups CSV with a bad row exits 2 naming the file and line."""
    data = tmp_path / "d.npz"
    np.savez(data, images=np.zeros((2, 8, 8), np.uint8), labels=[0, 1], label_names=["sad", "fear"])
    groups = tmp_path / "g.csv"
    groups.write_text("key,group\n0,a\n1;b\n")
    code, _, err = _eval(capsys, str(data), "--groups", str(groups))
    assert code == 2
    assert f"{groups}, line 3" in err


def test_eval_unknown_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model with an id the manifest lacks exits 2 and lists the classifiers available."""
    data = tmp_path / "d.npz"
    np.savez(data, images=np.zeros((1, 8, 8), np.uint8), labels=[0], label_names=["sad"])
    code, _, err = _eval(capsys, str(data), "--model", "nope")
    assert code == 2
    assert "fer_mini_xception_int8" in err


@pytest.mark.shared_data
def test_eval_scores_against_crowd_majority_and_votes(capsys: pytest.CaptureFixture[str]) -> None:
    """On FER+ valid.npz (votes + majority) edge eval scores the faces with a majority label,
    leaves the others out, and reports the cross-entropy against the vote distribution."""
    data = shared_path("ferplus", "valid.npz")
    assert main(["eval", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    votes = report["votes"]
    assert votes["n_majority"] + votes["n_no_majority"] == 3579
    assert report["overall"]["n"] == votes["n_majority"] == 3175
    assert 0.0 < votes["cross_entropy"] < 2.0
    assert report["overall"]["top1"] > 0.6
