"""The FER+ validation faces that are not pictures the training faces already hold (issue 21).

FER2013 holds some pictures more than once, on both sides of its Training / PublicTest split,
so some FER+ ``valid.npz`` faces (PublicTest) are copies of FER+ ``train.npz`` faces (Training)
that every FER+ model here trained on, with their own crowd votes. This writes ``valid.npz``
without them (``common.twin_blocks``: the same picture, lossless or re-encoded), every array of
the file kept in the same layout, so that ``edge eval`` scores a model on faces it cannot have
seen::

    python models/train/twin_free.py --out /tmp/valid_twin_free.npz
    edge eval /tmp/valid_twin_free.npz --conditions all --json > twin_free.json

Needs numpy only (the product's venv will do). The file is written outside the repo: it is FER+
data, which is not redistributed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_FERPLUS_DIR, LABELS, twin_blocks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, default=DEFAULT_FERPLUS_DIR / "train.npz")
    ap.add_argument("--valid", type=Path, default=DEFAULT_FERPLUS_DIR / "valid.npz")
    ap.add_argument("--out", type=Path, required=True, help="where the twin-free .npz goes")
    a = ap.parse_args(argv)
    for flag, path in (("--train", a.train), ("--valid", a.valid)):
        if not path.is_file():
            ap.error(f"{flag} {path}: no such file (the FER+ .npz files of ../shared/data/ferplus)")
    with np.load(a.train, allow_pickle=False) as f:
        train_images = np.asarray(f["images"], dtype=np.uint8)
    with np.load(a.valid, allow_pickle=False) as f:
        valid = {k: np.asarray(f[k]) for k in f.files}
    twin = np.zeros(len(valid["images"]), dtype=bool)
    for i, twins in twin_blocks(valid["images"], train_images):
        twin[i : i + len(twins)] = twins.any(axis=1)
    keep = ~twin
    out = {k: (v[keep] if v.ndim and len(v) == len(twin) else v) for k, v in valid.items()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **out)
    print(f"{a.valid}: {int(twin.sum())} of {len(twin)} faces are copies of {a.train} faces; "
          f"wrote the other {int(keep.sum())} to {a.out}")  # fmt: skip
    if "majority" in valid:
        maj = valid["majority"]
        per = ", ".join(f"{name} {int((twin & (maj == c)).sum())}/{int((maj == c).sum())}"
                        for c, name in enumerate(LABELS))  # fmt: skip
        print(f"copies among the majority faces, per label: {per}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
