"""Soft targets from an ensemble of trained checkpoints, for distillation (issue 21).

For every face of a FER+ ``.npz`` (default: ``train.npz``), the mean over the given ``.keras``
checkpoints of their softmax outputs on the clean face and its mirror image is written to
``--out`` (``probs``: N x 7 float32, in the file's order, plus ``images_sha256`` and ``sources``
so that ``train.py --teacher`` can check that the file belongs to the data it trains on). The
teachers see the clean face; ``train.py`` pairs that answer with the degraded copies it trains on,
so the student learns to say on a blurred, small or covered face what the ensemble says on the
clean one.

    python models/train/teacher.py /work/runs/robust/best.keras /work/runs/robust2/best.keras \
        /work/runs/wide/best.keras --out /work/runs/teacher_train.npz
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_FERPLUS_DIR, load_ferplus, preprocess


def ensemble_probs(paths: list[Path], x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Mean softmax of every checkpoint over x and its mirror image."""
    total = np.zeros((len(x), 7), dtype=np.float64)
    for path in paths:
        model = keras.models.load_model(path, compile=False)
        for xs in (x, x[:, :, ::-1, :]):
            total += model.predict(xs, batch_size=batch, verbose=0).astype(np.float64)
    return (total / (2 * len(paths))).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", type=Path, nargs="+", help=".keras files of the ensemble")
    p.add_argument("--data", type=Path, default=DEFAULT_FERPLUS_DIR / "train.npz")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    missing = [str(c) for c in a.checkpoints if not c.is_file()]
    if missing:
        p.error(f"no such checkpoint: {', '.join(missing)} (give the runs' best.keras files)")
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    fp = load_ferplus(a.data)
    t0 = time.time()
    probs = ensemble_probs(a.checkpoints, preprocess(fp["images"]))
    np.savez_compressed(
        a.out,
        probs=probs,
        images_sha256=np.array(hashlib.sha256(fp["images"].tobytes()).hexdigest()),
        sources=np.array([str(c) for c in a.checkpoints]),
    )
    print(f"{a.out}: {len(probs)} faces, {len(a.checkpoints)} teachers, {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
