"""Labelled face crops for ``edge eval``: an ``.npz`` file or a folder per label, and groups.

- ``.npz``: ``images`` (uint8, N x H x W grey or N x H x W x 3 RGB), ``labels`` (integer index
  into ``label_names``), ``label_names`` -- the layout of ``../shared/data/fer2013/*.npz``.
  Sample keys (for ``--groups``) are the row indices ``0 .. N-1``.
- crowd labels (the FER+ layout of ``../shared/data/ferplus/*.npz``): ``votes`` (N x V vote
  counts) with ``vote_names``, and ``majority`` (index into ``label_names``, -1 where no
  label has a majority) in place of ``labels``. Vote columns the model has no label for
  (contempt, unknown, not a face) are dropped and each row renormalised over the rest;
  ``happiness``/``sadness``/``anger`` count as ``happy``/``sad``/``angry``.
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
NPZ_KEYS = ("images", "labels", "label_names", "votes", "vote_names", "majority")
#: Crowd vote names that mean one of the model's labels.
VOTE_ALIASES = {"happiness": "happy", "sadness": "sad", "anger": "angry"}


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
    #: N x (model labels) vote shares (rows sum to 1; NaN rows: no usable vote), or None.
    votes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)

    def index_of(self, key: str) -> int | None:
        """Row of the sample named ``key`` (row index, ``label/file`` or unique file name)."""
        return self.aliases.get(key)


def subset(dataset: Dataset, n: int, seed: int) -> Dataset:
    """``n`` samples of ``dataset`` drawn at random with ``seed`` (in their original order, keys
    kept); the whole dataset when it has no more than ``n``."""
    if n >= len(dataset):
        return dataset
    keep = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))
    keys = [dataset.keys[i] for i in keep]
    return Dataset(
        dataset.source,
        [dataset.images[i] for i in keep],
        dataset.labels[keep],
        keys,
        {k: i for i, k in enumerate(keys)},
        None if dataset.votes is None else dataset.votes[keep],
    )


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
    if path.stat().st_size == 0 or not zipfile.is_zipfile(path):
        raise DataError(
            f"{path}: not an .npz file (an .npz is a zip archive of arrays, e.g. written by "
            "numpy.savez); pass an .npz or a folder of label folders"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in NPZ_KEYS if k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    label_key = "majority" if "labels" not in arrays and "majority" in arrays else "labels"
    missing = [k for k in ("images", label_key, "label_names") if k not in arrays]
    if missing:
        raise DataError(
            f"{path}: missing array(s) {', '.join(missing)}; an eval .npz needs "
            "images (uint8 N x H x W or N x H x W x 3), labels (int, N) and label_names "
            "(or votes, vote_names and majority for crowd labels)"
        )
    images, labels = arrays["images"], arrays[label_key]
    names = [str(x) for x in np.atleast_1d(arrays["label_names"])]
    gray = _as_gray(images, path)
    if not gray:
        raise DataError(f"{path}: holds no images (0 rows); nothing to evaluate")
    if labels.ndim != 1 or len(labels) != len(gray) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{path}: {label_key} must be N={len(gray)} integers, got shape {labels.shape} "
            f"dtype {labels.dtype}"
        )
    low = -1 if label_key == "majority" else 0
    if len(labels) and (labels.min() < low or labels.max() >= len(names)):
        raise DataError(f"{path}: {label_key} must index label_names ({low}..{len(names) - 1})")
    mapping = np.asarray([*map_labels(names, model_labels, path), -1], dtype=np.int64)
    keys = [str(i) for i in range(len(gray))]
    votes = _votes(arrays, len(gray), model_labels, path)
    return Dataset(
        path,
        gray,
        mapping[labels.astype(np.int64)],
        keys,
        {k: i for i, k in enumerate(keys)},
        votes,
    )


def _votes(
    arrays: dict[str, np.ndarray], n: int, model_labels: tuple[str, ...], path: Path
) -> np.ndarray | None:
    """Vote shares over the model's labels (rows without a usable vote are NaN)."""
    if "votes" not in arrays:
        return None
    if "vote_names" not in arrays:
        raise DataError(f"{path}: votes need vote_names (the label of each vote column)")
    votes = arrays["votes"]
    vote_names = [str(x).strip().lower() for x in np.atleast_1d(arrays["vote_names"])]
    if votes.ndim != 2 or votes.shape != (n, len(vote_names)) or votes.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: votes must be N={n} x {len(vote_names)} counts, got shape {votes.shape}"
        )
    wanted = {label.lower(): i for i, label in enumerate(model_labels)}
    shares = np.zeros((n, len(model_labels)), dtype=np.float64)
    for column, name in enumerate(vote_names):
        index = wanted.get(VOTE_ALIASES.get(name, name))
        if index is not None:
            shares[:, index] += votes[:, column]
    totals = shares.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, shares / totals, np.nan)


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
