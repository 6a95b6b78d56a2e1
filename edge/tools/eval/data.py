"""Labelled face crops for ``edge eval``: an ``.npz`` file or a folder per label, and groups.

- ``.npz``: ``images`` (uint8, N x H x W grey or N x H x W x 3 RGB), ``labels`` (integer index
  into ``label_names``), ``label_names`` -- the layout of ``../shared/data/fer2013/*.npz``.
  Sample keys (for ``--groups``) are the row indices ``0 .. N-1``.
- folder: one subfolder per label name holding images (any size, read as grey). Sample keys are
  ``label/file.jpg``; the bare file name works too when it is unique.

Dataset label names are matched to the model's labels by name (case and surrounding spaces
ignored); a name the model does not know is an error, a model label absent from the data is
fine. Every problem raises :class:`DataError` with a message that names the file and the fix.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.types import ImageArray

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm"})
NPZ_KEYS = ("images", "labels", "label_names")


class DataError(ValueError):
    """The dataset or groups file is unusable; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class Dataset:
    """Grey images with labels as indices into the *model's* label list."""

    source: Path
    images: list[ImageArray]
    labels: np.ndarray
    keys: list[str]
    aliases: dict[str, int]

    def __len__(self) -> int:
        return len(self.images)

    def index_of(self, key: str) -> int | None:
        """Row of the sample named ``key`` (row index, ``label/file`` or unique file name)."""
        return self.aliases.get(key)


def map_labels(names: list[str], model_labels: tuple[str, ...], source: Path) -> list[int]:
    """Model index of each dataset label name; :class:`DataError` for names the model lacks."""
    wanted = {label.strip().lower(): i for i, label in enumerate(model_labels)}
    unknown = [n for n in names if n.strip().lower() not in wanted]
    if unknown:
        raise DataError(
            f"{source}: label(s) {', '.join(repr(u) for u in unknown)} are not known to the model "
            f"(its labels: {', '.join(model_labels)}); rename them to a model label or drop "
            "those samples"
        )
    return [wanted[n.strip().lower()] for n in names]


def load_dataset(path: Path, model_labels: tuple[str, ...]) -> Dataset:
    """Read ``path`` (``.npz`` file or folder of label folders)."""
    if not path.exists():
        raise DataError(f"{path} does not exist; pass an .npz file or a folder of label folders")
    if path.is_dir():
        return _load_folder(path, model_labels)
    return _load_npz(path, model_labels)


def _load_npz(path: Path, model_labels: tuple[str, ...]) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in NPZ_KEYS if k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing:
        raise DataError(
            f"{path}: missing array(s) {', '.join(missing)}; an eval .npz needs "
            "images (uint8 N x H x W or N x H x W x 3), labels (int, N) and label_names"
        )
    images, labels = arrays["images"], arrays["labels"]
    names = [str(x) for x in np.atleast_1d(arrays["label_names"])]
    gray = _as_gray(images, path)
    if labels.ndim != 1 or len(labels) != len(gray) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{path}: labels must be N={len(gray)} integers, got shape {labels.shape} "
            f"dtype {labels.dtype}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise DataError(f"{path}: labels must index label_names (0..{len(names) - 1})")
    mapping = np.asarray(map_labels(names, model_labels, path), dtype=np.int64)
    keys = [str(i) for i in range(len(gray))]
    return Dataset(
        path, gray, mapping[labels.astype(np.int64)], keys, {k: i for i, k in enumerate(keys)}
    )


def _as_gray(images: np.ndarray, path: Path) -> list[ImageArray]:
    if images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        return list(images)
    if images.ndim == 4 and images.shape[-1] == 3:
        return [np.asarray(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), dtype=np.uint8) for img in images]
    raise DataError(
        f"{path}: images must be N x H x W (grey) or N x H x W x 3 (RGB), got shape {images.shape}"
    )


def _load_folder(path: Path, model_labels: tuple[str, ...]) -> Dataset:
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(
            f"{path}: no label folders; expected {path}/<label>/<image> with label names such "
            f"as {', '.join(model_labels)}"
        )
    indices = map_labels([f.name for f in folders], model_labels, path)
    images: list[ImageArray] = []
    labels: list[int] = []
    keys: list[str] = []
    for folder, index in zip(folders, indices, strict=True):
        for file in sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            gray = cv2.imdecode(np.fromfile(file, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
            if gray is None:
                raise DataError(f"{file}: cannot decode as an image; fix or remove the file")
            images.append(np.asarray(gray, dtype=np.uint8))
            labels.append(index)
            keys.append(f"{folder.name}/{file.name}")
    if not images:
        raise DataError(f"{path}: the label folders hold no images ({', '.join(IMAGE_SUFFIXES)})")
    aliases = {k: i for i, k in enumerate(keys)}
    names = [k.split("/", 1)[1] for k in keys]
    for i, name in enumerate(names):
        if names.count(name) == 1:
            aliases[name] = i
    return Dataset(path, images, np.asarray(labels, dtype=np.int64), keys, aliases)


def load_groups(path: Path, dataset: Dataset) -> list[str | None]:
    """Group name of every sample (``None`` when the CSV does not list it).

    The CSV has the header ``key,group``; ``key`` is the row index (``.npz``) or the file name
    (``label/file.jpg``, or the bare name when unique) of a sample in ``dataset``.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--groups {path}: cannot read ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0]] != ["key", "group"]:
        raise DataError(
            f"{path}, line 1: the header must be exactly 'key,group' "
            f"(got {','.join(rows[0]) if rows else 'an empty file'!r})"
        )
    groups: list[str | None] = [None] * len(dataset)
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DataError(
                f"{path}, line {line}: expected 'key,group' with both fields non-empty, got "
                f"{','.join(row)!r}; quote a group name that contains a comma"
            )
        key, group = row[0].strip(), row[1].strip()
        index = dataset.index_of(key)
        if index is None:
            hint = "a row index 0..N-1" if dataset.source.suffix == ".npz" else "label/file.jpg"
            raise DataError(
                f"{path}, line {line}: key {key!r} is not a sample of {dataset.source}; use {hint}"
            )
        if groups[index] is not None:
            raise DataError(f"{path}, line {line}: sample {key!r} is listed twice; keep one row")
        groups[index] = group
    if all(g is None for g in groups):
        raise DataError(f"{path}: lists no samples; add rows 'key,group' below the header")
    return groups
