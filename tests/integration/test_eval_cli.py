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
    try:
        code = main(["eval", *args])
    except SystemExit as exc:  # a flag the parser refuses: one line, exit 2
        code = int(exc.code or 0)
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


@pytest.mark.shared_data
def test_eval_robustness_suite_on_ferplus(capsys: pytest.CaptureFixture[str]) -> None:
    """--conditions runs the robustness suite through the real CLI on 400 FER+ faces: a clean
    row plus one row per condition and level with top-1, macro-F1, ECE and the window share
    error against labels and votes (with the constant-guess reference); severe blur scores
    lower top-1 and a larger share error than clean; the subtle set is scored against votes."""
    data = str(shared_path("ferplus", "valid.npz"))
    code, report, _ = _eval(
        capsys, data, "--json", "--limit", "400", "--model", "edge_ferplus_cnn_int8",
        "--conditions", "gaussian_blur:severe,occlusion_mask", "--windows", "200",
    )  # fmt: skip
    assert code == 0
    suite = report["robustness"]
    rows = {(r["condition"], r["level"]): r for r in suite["rows"]}
    assert list(rows) == [
        ("clean", "none"),
        ("gaussian_blur", "severe"),
        ("occlusion_mask", "mild"),
        ("occlusion_mask", "moderate"),
        ("occlusion_mask", "severe"),
    ]
    clean, blur = rows[("clean", "none")], rows[("gaussian_blur", "severe")]
    assert clean["n"] == report["overall"]["n"] <= 400
    assert clean["top1"] == report["overall"]["top1"]
    assert blur["top1"] < clean["top1"] - 0.1
    assert blur["strength"] == 3.5
    for row in rows.values():
        assert 0.0 <= row["ece"] <= 1.0
        for truth in ("labels", "votes"):
            err = row["share_error"][truth]
            assert err["window_faces"] == 20 and err["windows"] == 200
            assert 0.0 <= err["mean_l1"] <= err["p90_l1"] <= 2.0
            assert err["prior_mean_l1"] > 0.0
    assert blur["share_error"]["votes"]["mean_l1"] > clean["share_error"]["votes"]["mean_l1"]
    subtle = suite["subtle"]
    assert subtle["n"] > 0
    assert 0.0 <= subtle["answered_neutral"] <= 1.0
    assert sum(subtle["per_expression"].values()) == subtle["n"]


@pytest.mark.shared_data
def test_eval_shares_use_the_share_factor(capsys: pytest.CaptureFixture[str]) -> None:
    """The suite scores window shares as the aggregation publishes them: with the default
    model's manifest share factor (reported in the JSON) the clean share error against the
    crowd's votes is lower than with --share-factor 1 (the probabilities themselves), while
    top-1, ECE and the per-face answers are the same."""
    data = str(shared_path("ferplus", "valid.npz"))
    flags = ["--json", "--limit", "1000", "--conditions", "clean", "--windows", "300"]
    code, shipped, _ = _eval(capsys, data, *flags)
    assert code == 0
    code, plain, _ = _eval(capsys, data, *flags, "--share-factor", "1")
    assert code == 0
    assert shipped["share_temperature_factor"] > 1.0 == plain["share_temperature_factor"]
    new, old = shipped["robustness"]["rows"][0], plain["robustness"]["rows"][0]
    assert (new["top1"], new["ece"]) == (old["top1"], old["ece"])
    assert shipped["overall"] == plain["overall"]  # the per-face answers and confusion matrix
    assert new["share_error"]["votes"]["mean_l1"] < old["share_error"]["votes"]["mean_l1"]
    assert shipped["robustness"]["share_factor"] == shipped["share_temperature_factor"]


@pytest.mark.shared_data
def test_eval_robustness_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the suite prints a Markdown table row per condition and level, the
    constant-guess reference and the subtle set; the header names the default model's share
    temperature factor."""
    data = str(shared_path("ferplus", "valid.npz"))
    code, out, _ = _eval(capsys, data, "--limit", "120", "--conditions", "jpeg:mild")
    assert code == 0
    assert re.search(r", shares at \d+(\.\d+)? x the temperature, 1\d\d samples", out)
    assert "## Robustness suite (1 conditions" in out
    assert re.search(r"^\| clean \| none \|", out, re.MULTILINE)
    assert re.search(r"^\| jpeg \| mild \| 70 100 - quality \| \d+ \|", out, re.MULTILINE)
    assert "Constant guess of the set's mean truth" in out
    assert "### Subtle set" in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--conditions", "blur"], "unknown condition 'blur'"),
        (["--conditions", "jpeg:hard"], "unknown level 'hard'"),
        (
            ["--conditions", "all", "--window-faces", "0"],
            "--window-faces: 0 is out of range; accepted: a whole number from 1 to 10000",
        ),
        (["--limit", "0"], "--limit: 0 is out of range; accepted: a whole number >= 1"),
        (
            ["--share-factor", "0.1"],
            "--share-factor: 0.1 is out of range; accepted: a number from 0.25 to 10",
        ),
    ],
)
def test_eval_bad_suite_flags_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    """Bad --conditions / --window-faces / --limit values exit 2 with a message naming them."""
    data = tmp_path / "d.npz"
    np.savez(data, images=np.zeros((1, 8, 8), np.uint8), labels=[0], label_names=["sad"])
    code, _, err = _eval(capsys, str(data), *flags)
    assert code == 2
    assert message in err


def test_eval_suite_runs_without_votes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On plain labelled faces (no votes; 30 synthetic crops of any size) the suite reports the
    share error against the labels only, and no subtle set."""
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(
        data,
        images=rng.integers(0, 255, (30, 60, 60), dtype=np.uint8),
        labels=np.arange(30) % 7,
        label_names=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    )
    code, report, _ = _eval(
        capsys, str(data), "--json", "--conditions", "crop_jitter:mild", "--window-faces", "10"
    )
    assert code == 0
    rows = report["robustness"]["rows"]
    assert [r["condition"] for r in rows] == ["clean", "crop_jitter"]
    assert rows[1]["share_error"]["votes"] is None
    assert rows[1]["share_error"]["labels"]["window_faces"] == 10
    assert "subtle" not in report["robustness"]


def test_eval_config_selects_model_and_flip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--config applies the file's classifier.model and classifier.flip_tta (e.g. a model in
    the user's own models folder); an invalid config file exits 2 naming the key."""
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(1)
    np.savez(
        data, images=rng.integers(0, 255, (4, 48, 48), dtype=np.uint8), labels=[0, 3, 4, 6],
        label_names=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    )  # fmt: skip
    cfg = tmp_path / "edge.yaml"
    cfg.write_text("classifier:\n  model: edge_fer_cnn_int8\n  flip_tta: false\n")
    code, report, _ = _eval(capsys, str(data), "--json", "--config", str(cfg))
    assert code == 0
    assert report["model"].startswith("edge_fer_cnn_int8@")
    assert report["flip_tta"] is False
    bad = tmp_path / "bad.yaml"
    bad.write_text("classifier:\n  modle: x\n")
    code, _, err = _eval(capsys, str(data), "--config", str(bad))
    assert code == 2
    assert "modle" in err
