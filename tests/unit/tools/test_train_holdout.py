"""The carved FER+ split of models/train/common.py: copies of one picture decide together."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.scriptmodule import load_script


def _common() -> ModuleType:
    return load_script("models/train/common.py", "edge_train_common")


def _fer2013(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, int]:
    """A FER2013-like train file of 28 distinct random faces (4 per label) split 0.5 / seed 3,
    in which one neutral face is a byte copy of face 0 on the other side of the split; returns
    (path, images, validation mask, index of the copy)."""
    common = _common()
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(28, 48, 48), dtype=np.uint8)
    labels = np.repeat(np.arange(7), 4)
    _, val_idx = common.stratified_split(labels, 0.5, 3)
    in_val = np.zeros(len(images), dtype=bool)
    in_val[val_idx] = True
    copy = next(j for j in range(24, 28) if in_val[j] != in_val[0])
    images[copy] = images[0]
    path = tmp_path / "train.npz"
    np.savez(
        path, images=images, labels=labels.astype(np.int8), label_names=np.array(common.LABELS)
    )
    return path, images, in_val, copy


def test_holdout_keeps_only_faces_whose_every_copy_is_in_the_validation_split(
    tmp_path: Path,
) -> None:
    """A FER+ face is held out exactly when all of its FER2013 copies (lossless or with JPEG-like
    pixel error) are validation faces; a face with a copy on each side of the split is not, since
    the training copy was trained on; copies are found alike in blocks of any size."""
    common = _common()
    path, ref, in_val, copy = _fer2013(tmp_path)
    noise = np.random.default_rng(8).integers(-1, 2, size=ref.shape)
    ferplus = np.clip(ref.astype(np.int16) + noise, 0, 255).astype(np.uint8)

    held = common.ferplus_holdout(ferplus, path, 0.5, 3)
    expected = in_val.copy()
    expected[[0, copy]] = False
    assert held.tolist() == expected.tolist()
    blocks = [twins for _, twins in common.twin_blocks(ferplus, ref, block=5)]
    assert np.concatenate(blocks).sum(axis=1).tolist() == [
        2 if i in (0, copy) else 1 for i in range(len(ref))
    ]


def test_holdout_refuses_faces_that_are_not_fer2013_pixels(tmp_path: Path) -> None:
    """An image with no FER2013 copy is an error that names the image and the file, not a face
    silently put on the training side."""
    common = _common()
    path, ref, _, _ = _fer2013(tmp_path)
    stranger = np.random.default_rng(9).integers(0, 256, size=(1, 48, 48), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"image 2 has no FER2013 copy in .*train\.npz"):
        common.ferplus_holdout(np.concatenate([ref[:2], stranger]), path, 0.5, 3)
