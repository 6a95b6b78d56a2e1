"""Weight averaging of networks fine-tuned from one start: a "model soup" (issue 21).

Wortsman et al. (ICML 2022) average the weights of several fine-tunes of one pre-trained network
and get one network, at the cost of one, that is usually more accurate and more robust than the
best ingredient. Here the ingredients are ``train.py`` runs that all started from the same
checkpoint (phase 4) with different recipes. The greedy soup: the ingredients sorted by their own
score on the carved split (the FER+ train faces held out by ``ferplus_holdout``, never trained on;
never ``valid.npz``), each one kept if the running average's score does not fall. The score is
the mean of top-1 (majority labels, horizontal-flip TTA, Keras float) on the clean faces and on
their fixed perturbed copy (``robust.perturbed_copy``: every family at mild and moderate
strength, one condition per face). ``--uniform`` averages all of them instead.

Every weight array is averaged, BatchNorm moving statistics included; integer state (dropout's
seed) is taken from the first ingredient. Writes ``<out>/best.keras``, ``<out>/soup.json``
(scores, order, chosen) and ``<out>/run_args.json`` (the first ingredient's settings, so that
``export_ferplus.py --run <out>`` finds its seed and split)::

    python models/train/soup.py /work/runs/phase5c /work/runs/phase5d /work/runs/phase6e \
        --out /work/runs/soup6
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import carved_ferplus_faces, preprocess, write_json
from robust import perturbed_copy


def carved_split(fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean x, perturbed x, majority labels) of the carved split (``carved_ferplus_faces``)."""
    images, majority, _ = carved_ferplus_faces(fraction, seed)
    return preprocess(images), preprocess(perturbed_copy(images)[0]), majority


def score(
    model: keras.Model, clean: np.ndarray, pert: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """Flip-TTA top-1 on the clean and the perturbed faces, and their mean."""
    out = {}
    for name, x in (("clean", clean), ("perturbed", pert)):
        p = model.predict(x, batch_size=512, verbose=0) + model.predict(
            x[:, :, ::-1, :], batch_size=512, verbose=0
        )
        out[name] = float((p.argmax(1) == y).mean())
    out["score"] = 0.5 * (out["clean"] + out["perturbed"])
    return out


def average(weights: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of float arrays; integer arrays from the first set."""
    avg = []
    for arrays in zip(*weights, strict=True):
        if np.issubdtype(arrays[0].dtype, np.floating):
            avg.append(np.mean(np.stack(arrays), axis=0).astype(arrays[0].dtype))
        else:
            avg.append(arrays[0])
    return avg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="train.py output folders (best.keras)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--uniform", action="store_true", help="average all, no greedy choice")
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--split-seed", type=int, default=1234)
    a = p.parse_args(argv)
    missing = [str(r) for r in a.runs if not (r / "best.keras").is_file()]
    if missing:
        p.error(f"no best.keras in: {', '.join(missing)} (give train.py output folders)")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    t0 = time.time()
    clean, pert, y = carved_split(a.val_frac, a.split_seed)
    models = {str(r): keras.models.load_model(r / "best.keras", compile=False) for r in a.runs}
    shapes = {k: [w.shape for w in m.get_weights()] for k, m in models.items()}
    if len({str(s) for s in shapes.values()}) != 1:
        p.error("the runs' networks differ in shape; a soup needs one architecture")
    weights = {k: m.get_weights() for k, m in models.items()}  # before the soup overwrites one
    alone = {k: score(m, clean, pert, y) for k, m in models.items()}
    order = sorted(alone, key=lambda k: -alone[k]["score"])
    soup = models[order[0]]
    chosen = [order[0]]
    steps: list[dict[str, Any]] = [{"add": order[0], **alone[order[0]], "kept": True}]
    best = alone[order[0]]["score"]
    for k in order[1:]:
        trial = [*chosen, k]
        soup.set_weights(average([weights[c] for c in trial]))
        s = score(soup, clean, pert, y)
        kept = a.uniform or s["score"] >= best
        steps.append({"add": k, **s, "kept": kept})
        print(f"+ {k}: {s} {'kept' if kept else 'dropped'}", flush=True)
        if kept:
            chosen, best = trial, s["score"]
    soup.set_weights(average([weights[c] for c in chosen]))
    final = score(soup, clean, pert, y)
    a.out.mkdir(parents=True, exist_ok=True)
    soup.save(a.out / "best.keras")
    run_args = json.loads((Path(chosen[0]) / "run_args.json").read_text())
    run_args.update(out=str(a.out), soup=chosen)
    (a.out / "run_args.json").write_text(json.dumps(run_args, indent=2) + "\n")
    write_json(
        a.out / "soup.json",
        {
            "method": "uniform" if a.uniform else "greedy",
            "carved_split_faces": len(y),
            "alone": alone,
            "steps": steps,
            "chosen": chosen,
            "final": final,
            "seconds": round(time.time() - t0, 1),
        },
    )
    print(f"soup of {len(chosen)}: {final} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
