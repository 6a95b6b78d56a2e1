"""Per-face int8 invoke time and size of candidate edge_fer_cnn widths/depths (issue 21).

Builds UNTRAINED Keras models of each candidate (``train.build_model``), converts each to full
int8 with ``export.convert_int8`` (the converter ``export_ferplus.py`` uses; representative
set: ``--rep-samples`` FER+ training faces), and times a bare LiteRT invoke (one thread, batch 1,
``export.Int8Model.bench``) of every candidate interleaved with a reference file (default: the
current ``models/edge_ferplus_cnn_int8.tflite``) in one process: ``--rounds`` rounds, each
model ``--invokes`` invokes per round. Reports per candidate: parameters, multiply-adds, int8
file size, median of the round medians, and the ratio to the reference's median. The weights
do not matter for the invoke time of a dense int8 graph, so untrained models measure it.

Usage (from the repo root)::

    taskset -c 0 python models/train/width_bench.py --invokes 2000 --rounds 3 \\
        --candidate 16,32,64,128:2,2,2,2 --candidate 20,40,80,160:2,2,2,2 ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_FERPLUS_DIR, REPO_ROOT, load_ferplus, preprocess
from export import Int8Model, convert_int8
from train import build_model

DEFAULT_CANDIDATES = (
    "16,32,64,128:2,2,2,2",
    "20,40,80,160:2,2,2,2",
    "24,48,96,192:2,2,2,2",
    "28,56,112,224:2,2,2,2",
    "16,32,64,128:2,2,3,3",
    "20,40,80,160:2,2,3,3",
)
MIB = 1024 * 1024


def mult_adds(channels: tuple[int, ...], depths: tuple[int, ...]) -> int:
    """Multiply-adds of the conv and dense layers for one 48x48x1 face."""
    total, cin, size = 0, 1, 48
    for i, (ch, d) in enumerate(zip(channels, depths, strict=True)):
        for _ in range(d):
            total += size * size * 9 * cin * ch
            cin = ch
        if i < len(channels) - 1:
            size //= 2
    return total + cin * 7


def parse_candidate(s: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ch, _, dp = s.partition(":")
    return tuple(int(v) for v in ch.split(",")), tuple(int(v) for v in (dp or "2,2,2,2").split(","))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--candidate", action="append", default=[], help="CHANNELS:DEPTHS")
    p.add_argument(
        "--reference", type=Path, default=REPO_ROOT / "models" / "edge_ferplus_cnn_int8.tflite"
    )
    p.add_argument("--invokes", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rep-samples", type=int, default=200)
    p.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    a = p.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.random.set_seed(1234)
    images = load_ferplus(DEFAULT_FERPLUS_DIR / "train.npz")["images"]
    rep = preprocess(images[np.random.default_rng(1234).choice(len(images), a.rep_samples)])
    tmp = Path(tempfile.mkdtemp(prefix="width_bench_"))
    rows: dict[str, dict[str, Any]] = {}
    files = {"reference": a.reference}
    for cand in a.candidate or list(DEFAULT_CANDIDATES):
        channels, depths = parse_candidate(cand)
        model = build_model(channels, depths)
        path = tmp / f"{cand.replace(',', '_').replace(':', '-')}.tflite"
        path.write_bytes(convert_int8(model, rep))
        files[cand] = path
        rows[cand] = {
            "params": int(model.count_params()),
            "mult_adds": mult_adds(channels, depths),
            "size_bytes": path.stat().st_size,
        }
        print(cand, rows[cand], flush=True)
    models = {k: Int8Model(v, threads=1) for k, v in files.items()}
    medians: dict[str, list[float]] = {k: [] for k in models}
    for r in range(a.rounds):
        for k, m in models.items():
            medians[k].append(m.bench(a.invokes, a.warmup)["median_ms"])
        print("round", r + 1, {k: v[-1] for k, v in medians.items()}, flush=True)
    ref = float(np.median(medians["reference"]))
    print(
        f"\nreference {a.reference.name}: median {ref:.3f} ms "
        f"({a.rounds} rounds x {a.invokes} invokes)"
    )
    print("| channels:depths | params | mult-adds | int8 size (B) | <= 1 MiB | median ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    for k, row in rows.items():
        row["median_ms"] = round(float(np.median(medians[k])), 4)
        row["round_medians_ms"] = medians[k]
        row["ratio"] = round(row["median_ms"] / ref, 3)
        print(
            f"| {k} | {row['params']:,} | {row['mult_adds'] / 1e6:.1f} M | {row['size_bytes']:,} "
            f"| {'yes' if row['size_bytes'] <= MIB else 'NO'} | {row['median_ms']:.3f} "
            f"| {row['ratio']:.2f} |"
        )
    if a.json is not None:
        out = {"reference": str(a.reference), "reference_median_ms": ref,
               "reference_round_medians_ms": medians["reference"], "candidates": rows,
               "command": " ".join(["python", *sys.argv])}  # fmt: skip
        a.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
