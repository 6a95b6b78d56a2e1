"""Export a FER+ vote-trained edge_fer_cnn checkpoint to full int8 and report on it (issue 14).

Uses ``export.py``'s converter (full-integer int8, int8 input and output, 1000 representative
images from the training part of ``ferplus/train.npz``) and LiteRT wrapper, then scores the
int8 file and a baseline int8 file (default: the current ``edge_fer_cnn_int8``) with the same
metric code, one pass and horizontal-flip TTA (mean softmax of the face and its mirror):

- ``ferplus/valid.npz`` (FER2013 PublicTest, lossless) against the FER+ majority labels (images
  with majority >= 0): top-1, macro-F1, per-class P/R/F1, confusion, ECE (15 bins); cross-entropy
  against the renormalised 7-label vote distribution (images kept by ``vote_targets``);
  top-1 per brightness (mean pixel) and contrast (pixel std) tertile and the tertile gaps;
- ``fer2013/public_test.npz`` against the original FER2013 labels: top-1, macro-F1;
- the carved validation split (``train.py --targets votes``: the FER+ train faces whose FER2013
  twin is in the ``--split-seed`` split): the same numbers, and the temperature fit.

Temperature: one scalar T per mode (one pass, flip), minimising NLL of the majority labels on
the carved validation split (never on valid.npz); ECE and CE on valid.npz are reported before and
after. The formula is the runtime's: ``p = softmax(log(max(p_int8, output_scale / 2)) / T)``.
Latency: both int8 files in one process, LiteRT one thread, interleaved rounds.
Writes ``results/<name>.json`` and ``results/<name>.toml`` (the manifest table).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    DEFAULT_DATA_DIR,
    DEFAULT_FERPLUS_DIR,
    LABELS,
    REPO_ROOT,
    classification_report,
    ece,
    ferplus_holdout,
    load_ferplus,
    load_npz,
    preprocess,
    soft_cross_entropy,
    tertile_top1,
    vote_targets,
    write_json,
)
from export import Array, Int8Model, calibrate, convert_int8, fit_temperature

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, default=HERE / "runs" / "ferplus")
    p.add_argument("--checkpoint", default="best.keras", help="file in --run (or epochs/...)")
    p.add_argument("--name", default="edge_ferplus_cnn_int8")
    models_dir = REPO_ROOT / "models"
    p.add_argument("--out", type=Path, default=models_dir / "edge_ferplus_cnn_int8.tflite")
    p.add_argument("--baseline", type=Path, default=models_dir / "edge_fer_cnn_int8.tflite")
    p.add_argument(
        "--baseline-temperatures",
        type=float,
        nargs=2,
        default=(0.909, 0.858),
        help="the baseline's manifest temperature and temperature_flip",
    )
    p.add_argument("--ferplus-dir", type=Path, default=DEFAULT_FERPLUS_DIR)
    p.add_argument("--fer2013-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--rep-samples", type=int, default=1000)
    p.add_argument("--bench-invokes", type=int, default=3000)
    p.add_argument("--bench-warmup", type=int, default=300)
    p.add_argument("--bench-rounds", type=int, default=3)
    p.add_argument("--train-command", action="append", default=[])
    p.add_argument("--results", type=Path)
    p.add_argument("--manifest", type=Path)
    return p.parse_args(argv)


def two_modes(q: Int8Model, x: Array) -> dict[str, Array]:
    """Dequantized int8 probabilities, one pass and flip TTA (mean of face and mirror)."""
    p = q.predict(x)
    p_flip = q.predict(np.ascontiguousarray(x[:, :, ::-1]))
    return {"one_pass": p, "flip": (p + p_flip) / 2.0}


def majority_block(p: Array, y: Array, t: float, eps: float) -> dict[str, Any]:
    """Report on images with a label (y >= 0), raw and with temperature ``t``."""
    has = y >= 0
    p, y = p[has], y[has]
    r = classification_report(y, p.argmax(axis=1))
    cal = calibrate(p, t, eps)
    r["images"] = int(has.sum())
    r["ece15_raw"] = round(ece(p / p.sum(axis=1, keepdims=True), y), 4)
    r["ece15_T"] = round(ece(cal, y), 4)
    r["nll_raw"] = round(float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean()), 4)
    r["nll_T"] = round(float(-np.log(cal[np.arange(len(y)), y]).mean()), 4)
    return r


def score_file(
    q: Int8Model,
    sets: dict[str, dict[str, Array]],
    temps: dict[str, float] | None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """All metrics of one int8 file; fits T per mode on 'val' unless ``temps`` is given."""
    eps = q.out_scale / 2
    probs = {name: two_modes(q, s["x"]) for name, s in sets.items()}
    if temps is None:
        temps = {}
        for mode, p in probs["val"].items():
            has = sets["val"]["y"] >= 0
            temps[mode] = round(fit_temperature(p[has], sets["val"]["y"][has], eps), 4)
    out: dict[str, Any] = {"temperature": temps}
    for name, s in sets.items():
        out[name] = {}
        for mode, p in probs[name].items():
            blk = majority_block(p, s["y"], temps[mode], eps)
            if "targets" in s:
                k = s["keep"]
                blk["ce_votes_raw"] = round(soft_cross_entropy(p[k], s["targets"][k]), 4)
                blk["ce_votes_T"] = round(
                    soft_cross_entropy(calibrate(p[k], temps[mode], eps), s["targets"][k]), 4
                )
            if name == "ferplus_valid":
                has = s["y"] >= 0
                pred = p[has].argmax(axis=1)
                imgs = s["images"][has].astype(np.float64)
                y_has = s["y"][has]
                blk["brightness_tertiles"] = tertile_top1(imgs.mean(axis=(1, 2)), y_has, pred)
                blk["contrast_tertiles"] = tertile_top1(imgs.std(axis=(1, 2)), y_has, pred)
            out[name][mode] = blk
    return out, temps


def bench_both(paths: dict[str, Path], a: argparse.Namespace) -> dict[str, Any]:
    """Interleaved LiteRT 1-thread latency rounds of every file, in one process."""
    models = {k: Int8Model(p, threads=1) for k, p in paths.items()}
    rounds: dict[str, list[dict[str, float]]] = {k: [] for k in models}
    for _ in range(a.bench_rounds):
        for k, m in models.items():
            rounds[k].append(m.bench(a.bench_invokes, a.bench_warmup))
    return {
        k: {
            "mean_ms": round(float(np.mean([r["mean_ms"] for r in rs])), 4),
            "median_ms": round(float(np.median([r["median_ms"] for r in rs])), 4),
            "rounds": rs,
        }
        for k, rs in rounds.items()
    }


def toml_entry(res: dict[str, Any]) -> str:
    iq, oq = res["input_quant"], res["output_quant"]
    labels = ", ".join(f'"{n}"' for n in LABELS)
    t = res["new"]["temperature"]
    args = res.get("training", {}).get("args", {})
    start = next(
        (args[k] for k in ("init_tflite", "widen_from") if args.get(k) not in (None, "None")), ""
    )
    init = Path(start).stem or "edge_fer_cnn_int8"
    if args.get("widen_from") not in (None, "None"):
        init = f"{init}, widened to channels {args['channels']} (models/train/widen.py)"
    robust = float(args.get("robust_p", 0) or 0)
    script = "models/train/train.py --targets votes" + (
        f" --robust-p {robust:g} --select-perturbed" if robust > 0 else ""
    )
    return (
        f"[models.{res['model']}]\n"
        'kind = "classifier"\n'
        f'file = "{res["file"]}"\n'
        f'sha256 = "{res["sha256"]}"\n'
        f"input_shape = {json.dumps(res['input_shape'])}\n"
        'input_dtype = "int8"\n'
        'output_dtype = "int8"\n'
        f"input_quant = {{ scale = {iq['scale']!r}, zero_point = {iq['zero_point']} }}\n"
        f"output_quant = {{ scale = {oq['scale']!r}, zero_point = {oq['zero_point']} }}\n"
        f"labels = [{labels}]\n"
        'preprocess = { color = "gray", resize = "auto", scale = 0.00392156862745098, '
        "offset = -0.5, multiply = 2.0 }  # y = (x*scale + offset)*multiply; 48x48 crops: "
        "auto = INTER_AREA when shrinking\n"
        f"temperature = {t['one_pass']:.3f}  # models/train/export_ferplus.py: NLL fit of the "
        "FER+ majority labels on the FER+ train faces held out by ferplus_holdout: "
        f"{t['one_pass']}\n"
        f"temperature_flip = {t['flip']:.3f}  # the same for the flip-TTA output: {t['flip']}\n"
        f'source = {{ kind = "trained", script = "{script}", '
        'data = "FER+ crowd votes (microsoft/FERPlus) on FER2013 train pixels (research '
        f'datasets, not redistributed)", init = "{init}", seeds = [{res["seed"]}] }}\n'
        'licence = "Apache-2.0 (weights trained here); training data FER2013 / FER+ are research '
        'datasets, not redistributed"\n'
    )


def run_meta(run: Path) -> dict[str, Any]:
    """``train_meta.json`` of a finished run; of a run still going (or stopped), the settings
    from ``run_args.json`` and the epoch reached from ``state/state.json``, as ``{"args": ...}``
    (so a checkpoint of an unfinished run, e.g. ``epochs/ep001.keras``, can be exported)."""
    if (run / "train_meta.json").is_file():
        meta: dict[str, Any] = json.loads((run / "train_meta.json").read_text())
        return meta
    if not (run / "run_args.json").is_file():
        raise SystemExit(f"--run {run}: neither train_meta.json nor run_args.json (not a run)")
    meta = {"args": json.loads((run / "run_args.json").read_text()), "unfinished": True}
    if (run / "state" / "state.json").is_file():
        meta["state"] = json.loads((run / "state" / "state.json").read_text())
    return meta


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    a.results = a.results or HERE / "results" / f"{a.name}.json"
    a.manifest = a.manifest or HERE / "results" / f"{a.name}.toml"
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    meta = run_meta(a.run)
    seed = int(meta["args"]["seed"])
    split_seed, val_frac = int(meta["args"]["split_seed"]), float(meta["args"]["val_frac"])

    tr = load_ferplus(a.ferplus_dir / "train.npz")
    targets, keep = vote_targets(tr["votes"])
    is_val = ferplus_holdout(tr["images"], a.fer2013_dir / "train.npz", val_frac, split_seed)
    tr_idx, val_idx = np.flatnonzero(keep & ~is_val), np.flatnonzero(keep & is_val)
    rep_idx = np.random.default_rng(seed).choice(tr_idx, size=a.rep_samples, replace=False)
    va = load_ferplus(a.ferplus_dir / "valid.npz")
    va_targets, va_keep = vote_targets(va["votes"])
    pt_images, pt_labels = load_npz(a.fer2013_dir / "public_test.npz")
    sets = {
        "val": {
            "x": preprocess(tr["images"][val_idx]),
            "y": tr["majority"][val_idx],
            "targets": targets[val_idx],
            "keep": np.ones(len(val_idx), bool),
        },
        "ferplus_valid": {
            "x": preprocess(va["images"]),
            "y": va["majority"],
            "targets": va_targets,
            "keep": va_keep,
            "images": va["images"],
        },
        "public_test": {"x": preprocess(pt_images), "y": pt_labels},
    }

    model = keras.models.load_model(a.run / a.checkpoint, compile=False)
    tflite = convert_int8(model, preprocess(tr["images"][rep_idx]))
    a.out.write_bytes(tflite)
    q_new, q_base = Int8Model(a.out), Int8Model(a.baseline)
    new, _ = score_file(q_new, sets, None)
    base_t = {"one_pass": a.baseline_temperatures[0], "flip": a.baseline_temperatures[1]}
    base, _ = score_file(q_base, sets, base_t)
    pf = model.predict(sets["ferplus_valid"]["x"], batch_size=512, verbose=0)
    pq = q_new.predict(sets["ferplus_valid"]["x"])
    has = va["majority"] >= 0
    float_top1 = float((pf[has].argmax(1) == va["majority"][has]).mean())

    res: dict[str, Any] = {
        "model": a.name,
        "file": a.out.name,
        "checkpoint": str(a.run / a.checkpoint),
        "size_bytes": len(tflite),
        "sha256": hashlib.sha256(tflite).hexdigest(),
        "input_shape": [int(v) for v in q_new.inp["shape"]],
        "input_quant": {"scale": q_new.in_scale, "zero_point": int(q_new.in_zp)},
        "output_quant": {"scale": q_new.out_scale, "zero_point": int(q_new.out_zp)},
        "labels": list(LABELS),
        "params": int(model.count_params()),
        "seed": seed,
        "split_seed": split_seed,
        "representative_dataset": f"{a.rep_samples} images from the training part of "
        "ferplus/train.npz (seed = training seed)",
        "split": {
            "train_images": len(tr_idx),
            "val_images": len(val_idx),
            "dropped_by_vote_rule": int((~keep).sum()),
            "val_majority_counts": np.bincount(
                tr["majority"][val_idx] + 1, minlength=8
            ).tolist(),  # index 0 = no majority
        },
        "ferplus_valid_float_top1": round(float_top1, 4),
        "ferplus_valid_float_int8_agreement": round(
            float((pf.argmax(1) == pq.argmax(1)).mean()), 4
        ),
        "new": new,
        "baseline": {"file": a.baseline.name, **base},
        "latency_litert_int8_1thread": bench_both({a.name: a.out, a.baseline.stem: a.baseline}, a),
        "training": meta,
        "commands": {"train": a.train_command, "export": " ".join(["python", *sys.argv])},
    }
    write_json(a.results, res)
    a.manifest.write_text(toml_entry(res))
    summary = {}
    for who, r in (("new", new), ("baseline", base)):
        for mode in ("one_pass", "flip"):
            v, p = r["ferplus_valid"][mode], r["public_test"][mode]
            summary[f"{who}/{mode}"] = {
                "valid_top1": v["top1"],
                "valid_mf1": v["macro_f1"],
                "valid_ce": v["ce_votes_raw"],
                "valid_ece_raw": v["ece15_raw"],
                "valid_ece_T": v["ece15_T"],
                "pt_top1": p["top1"],
                "pt_mf1": p["macro_f1"],
                "bright_gap": v["brightness_tertiles"]["gap"],
                "contrast_gap": v["contrast_tertiles"]["gap"],
            }
    print(json.dumps(summary, indent=1))
    print(
        "T",
        new["temperature"],
        "size",
        len(tflite),
        "latency",
        {k: v["mean_ms"] for k, v in res["latency_litert_int8_1thread"].items()},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
