"""Datasets and groups files for `edge eval`: formats, label mapping, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.tools.eval.data import DataError, load_dataset, load_groups
from edge.types import EXPRESSIONS


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / label / f"{label}{i}.png"), np.full((40, 30), 10 * i, np.uint8))
    return root


def test_npz_labels_are_mapped_to_model_order_by_name(tmp_path: Path) -> None:
    """Dataset label names in another order and case map by name onto the model's indices."""
    path = tmp_path / "d.npz"
    images = np.zeros((3, 8, 8), np.uint8)
    np.savez(path, images=images, labels=np.array([0, 1, 1]), label_names=["Neutral", "happy"])
    data = load_dataset(path, EXPRESSIONS)
    assert data.labels.tolist() == [6, 3, 3]
    assert data.keys == ["0", "1", "2"]


def test_npz_rgb_images_become_grey(tmp_path: Path) -> None:
    """N x H x W x 3 images are converted to N x H x W grey."""
    path = tmp_path / "rgb.npz"
    images = np.full((2, 8, 8, 3), 200, np.uint8)
    np.savez(path, images=images, labels=np.array([0, 0]), label_names=["sad"])
    data = load_dataset(path, EXPRESSIONS)
    assert data.images[0].shape == (8, 8)
    assert int(data.images[0][0, 0]) == 200


def test_npz_missing_arrays_named(tmp_path: Path) -> None:
    """An .npz without label_names is rejected with the file and the missing array named."""
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((1, 8, 8), np.uint8), labels=np.array([0]))
    with pytest.raises(DataError, match=r"bad\.npz: missing array\(s\) label_names"):
        load_dataset(path, EXPRESSIONS)


def test_unknown_label_is_an_error(tmp_path: Path) -> None:
    """A dataset label the model does not know stops the run and lists the model's labels."""
    root = _folder(tmp_path / "data", {"happy": 1, "contempt": 1})
    with pytest.raises(DataError, match=r"'contempt' are not known.*angry, disgust"):
        load_dataset(root, EXPRESSIONS)


def test_folder_dataset_keys_and_aliases(tmp_path: Path) -> None:
    """A folder per label gives keys 'label/file'; unique bare file names work as keys too."""
    root = _folder(tmp_path / "data", {"happy": 2, "sad": 1})
    data = load_dataset(root, EXPRESSIONS)
    assert data.keys == ["happy/happy0.png", "happy/happy1.png", "sad/sad0.png"]
    assert data.labels.tolist() == [3, 3, 4]
    assert data.index_of("sad0.png") == 2
    assert data.index_of("happy/happy1.png") == 1


def test_groups_csv_assigns_groups(tmp_path: Path) -> None:
    """Listed samples get their group; unlisted ones get None."""
    root = _folder(tmp_path / "data", {"happy": 2, "sad": 1})
    csv = tmp_path / "g.csv"
    csv.write_text("key,group\nhappy0.png,indoor\nsad/sad0.png,outdoor\n")
    assert load_groups(csv, load_dataset(root, EXPRESSIONS)) == ["indoor", None, "outdoor"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,group\n0,a\n", r"line 1: the header must be exactly 'key,group'"),
        ("key,group\n0,a\n1\n", r"line 3: expected 'key,group'"),
        ("key,group\n0,a\n7,b\n", r"line 3: key '7' is not a sample.*row index"),
        ("key,group\n0,a\n0,b\n", r"line 3: sample '0' is listed twice"),
        ("key,group\n", r"lists no samples"),
    ],
)
def test_malformed_groups_csv_names_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    """Each malformed groups file is rejected with the file, the line and what to fix."""
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((2, 8, 8), np.uint8), labels=[0, 0], label_names=["sad"])
    csv = tmp_path / "groups.csv"
    csv.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_groups(csv, load_dataset(path, EXPRESSIONS))
    assert str(csv) in str(info.value)


FERPLUS_VOTE_NAMES = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                      "contempt", "unknown", "NF"]


def test_crowd_votes_map_onto_the_model_labels(tmp_path: Path) -> None:
    """FER+ style votes: happiness/sadness/anger count as happy/sad/angry, contempt/unknown/NF
    are dropped and each row renormalised; majority -1 (no majority) stays -1."""
    path = tmp_path / "votes.npz"
    votes = np.array([
        [0, 8, 0, 0, 0, 0, 0, 0, 2, 0],   # happy 8 (unknown 2 dropped)
        [5, 0, 0, 5, 0, 0, 0, 0, 0, 0],   # neutral/sad tie: no majority
        [0, 0, 0, 0, 0, 0, 0, 4, 3, 3],   # only contempt/unknown/NF: no usable vote
    ], dtype=np.uint8)
    np.savez(path, images=np.zeros((3, 8, 8), np.uint8), votes=votes,
             vote_names=FERPLUS_VOTE_NAMES, majority=np.array([3, -1, -1], np.int8),
             label_names=list(EXPRESSIONS))
    data = load_dataset(path, EXPRESSIONS)
    assert data.labels.tolist() == [3, -1, -1]
    assert data.votes is not None
    assert data.votes[0].tolist() == [0, 0, 0, 1.0, 0, 0, 0]
    assert data.votes[1][EXPRESSIONS.index("neutral")] == 0.5
    assert data.votes[1][EXPRESSIONS.index("sad")] == 0.5
    assert np.isnan(data.votes[2]).all()


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "not an .npz"), (bytes(range(256)) * 8, "not an .npz")],
    ids=["empty", "random-bytes"],
)
def test_unreadable_npz_is_a_clear_error(tmp_path: Path, content: bytes, needle: str) -> None:
    """A 0-byte file or random bytes say 'not an .npz' (no traceback, no numpy pickle
    advice)."""
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=needle) as info:
        load_dataset(path, EXPRESSIONS)
    assert "pickle" not in str(info.value)


def test_zero_row_npz_is_a_clear_error(tmp_path: Path) -> None:
    """An .npz with 0 images says there is nothing to evaluate."""
    path = tmp_path / "empty.npz"
    np.savez(path, images=np.zeros((0, 8, 8), np.uint8), labels=np.zeros(0, np.int64),
             label_names=list(EXPRESSIONS))
    with pytest.raises(DataError, match="no images"):
        load_dataset(path, EXPRESSIONS)
