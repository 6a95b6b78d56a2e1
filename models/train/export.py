"""Export a trained edge_fer_cnn checkpoint to a full-integer int8 TFLite model and report on it.

Steps:

1. convert the Keras checkpoint (``train.py``'s ``best.keras``) with the TFLite converter to a
   full-integer model (int8 weights and activations, int8 input AND int8 output), calibrated with a
   representative dataset of images drawn from the training part of ``train.npz``;
2. evaluate the float (Keras) model and the int8 model (LiteRT interpreter) on the validation split
   that ``train.py`` carved (same seed) and on ``public_test.npz``: top-1, macro-F1, per-class
   precision/recall/F1, float-vs-int8 top-1 agreement, optional horizontal-flip TTA;
3. fit temperature scaling (one scalar T minimising NLL on the validation split, on the int8
   model's dequantized log-probabilities) and report ECE (15 bins) on public_test before/after;
4. time the int8 model in LiteRT with one thread (mean over >= 500 invokes after warm-up);
5. write ``results/<name>.json`` and ``results/<name>.toml`` (the ``[models.<name>]`` table for
   ``models/manifest.toml``).

With ``--member DIR`` (repeatable) the checkpoints of ``--run`` and every member are combined
into ONE network that averages their softmax outputs (an ensemble in a single TFLite file: one
invoke, the members' compute added up); all members must share ``--run``'s validation split
(``train.py --split-seed``).

Calibrated probabilities at run time: ``p = dequant(q).clip(min=eps) ** (1 / T); p /= p.sum()``
with ``eps = output_scale / 2`` (identical to ``softmax(log(p) / T)``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import numpy.typing as npt
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    DEFAULT_DATA_DIR,
    INPUT_SIZE,
    LABELS,
    REPO_ROOT,
    classification_report,
    ece,
    load_npz,
    preprocess,
    stratified_split,
    write_json,
)

HERE = Path(__file__).resolve().parent
Array = npt.NDArray[Any]


def convert_int8(model: keras.Model, rep_images: Array) -> bytes:
    """Full-integer int8 conversion (int8 in/out) of ``model`` with batch size 1."""
    with tempfile.TemporaryDirectory() as tmp:
        model.export(
            tmp,
            format="tf_saved_model",
            input_signature=[
                tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 1], tf.float32, name="image")
            ],
            verbose=False,
        )

        def representative() -> Any:
            for img in rep_images:
                yield [img[None].astype(np.float32)]

        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        return bytes(conv.convert())


def ensemble(models: list[keras.Model]) -> keras.Model:
    """One network whose output is the mean of the members' softmax outputs."""
    if len(models) == 1:
        return models[0]
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    outs = []
    for i, member in enumerate(models):
        renamed = keras.Model(member.inputs[0], member.outputs[0], name=f"member{i + 1}")
        outs.append(renamed(inp))  # nested models need distinct names
    out = keras.layers.Average(name="probs")(outs)
    return keras.Model(inp, out, name=f"edge_fer_cnn_x{len(models)}")


class Int8Model:
    """Thin LiteRT wrapper: float images in [-1, 1] -> dequantized int8 softmax outputs."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.in_scale, self.in_zp = (float(v) for v in self.inp["quantization"])
        self.out_scale, self.out_zp = (float(v) for v in self.out["quantization"])

    def quantize(self, x: Array) -> Array:
        q = np.round(x / self.in_scale) + self.in_zp
        return np.clip(q, -128, 127).astype(np.int8)

    def raw(self, q: Array) -> Array:
        self.interp.set_tensor(self.inp["index"], q)
        self.interp.invoke()
        return np.array(self.interp.get_tensor(self.out["index"]))

    def predict(self, x: Array) -> Array:
        out = np.empty((len(x), len(LABELS)), dtype=np.float64)
        for i in range(len(x)):
            q = self.raw(self.quantize(x[i : i + 1]))
            out[i] = (q[0].astype(np.float64) - self.out_zp) * self.out_scale
        return out

    def bench(self, n: int, warmup: int) -> dict[str, float]:
        q = self.quantize(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 1), np.float32))
        for _ in range(warmup):
            self.raw(q)
        times = np.empty(n)
        for i in range(n):
            t = time.perf_counter()
            self.interp.set_tensor(self.inp["index"], q)
            self.interp.invoke()
            self.interp.get_tensor(self.out["index"])
            times[i] = time.perf_counter() - t
        ms = times * 1000.0
        return {
            "mean_ms": round(float(ms.mean()), 4),
            "median_ms": round(float(np.median(ms)), 4),
            "p95_ms": round(float(np.percentile(ms, 95)), 4),
            "invokes": n,
            "warmup": warmup,
            "threads": 1,
        }


def calibrate(p: Array, t: float, eps: float) -> Array:
    """Temperature-scale probabilities: softmax(log(max(p, eps)) / t)."""
    logp = np.log(np.clip(p, eps, None)) / t
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)


def nll(p: Array, y: Array) -> float:
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())


def fit_temperature(p: Array, y: Array, eps: float) -> float:
    """Scalar T minimising validation NLL (log-spaced grid, then a finer local grid)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 301))
    best = min(grid, key=lambda t: nll(calibrate(p, t, eps), y))
    fine = np.linspace(best * 0.97, best * 1.03, 121)
    return float(min(fine, key=lambda t: nll(calibrate(p, t, eps), y)))


def report(probs: Array, y: Array) -> dict[str, Any]:
    r = classification_report(y, probs.argmax(axis=1))
    r["nll"] = round(nll(probs / probs.sum(axis=1, keepdims=True), y), 4)
    return r


def combine_curves(runs: list[Path], out: Path) -> list[dict[str, Any]]:
    """Concatenate the phases' curves.csv into ``out`` (with a phase column); summarise each."""
    phases: list[dict[str, Any]] = []
    rows_out: list[dict[str, str]] = []
    for i, run in enumerate(runs, start=1):
        with (run / "curves.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        phases.append(
            {
                "phase": i,
                "run": run.name,
                "epochs": len(rows),
                "wall_s": float(rows[-1]["elapsed_s"]) if rows else 0.0,
                "final_val_top1": float(rows[-1]["val_top1"]) if rows else None,
            }
        )
        rows_out += [{"phase": str(i), **r} for r in rows]
    if rows_out:
        with out.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows_out[0]))
            w.writeheader()
            w.writerows(rows_out)
    return phases


def toml_entry(res: dict[str, Any], model_name: str) -> str:
    iq, oq = res["input_quant"], res["output_quant"]
    seeds = [res["seed"], *res["member_seeds"]]
    labels = ", ".join(f'"{n}"' for n in LABELS)
    return (
        f"[models.{model_name}]\n"
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
        f"temperature = {res['temperature']['T']}  # fitted on the training run's validation "
        "split; p = softmax(log(max(p_int8, output_scale/2)) / T)\n"
        'source = { kind = "trained", script = "models/train/train.py", data = "FER2013 train '
        f'split (research dataset, not redistributed)", seeds = {seeds} }}\n'
        'licence = "Apache-2.0 (weights trained here); training data FER2013 is a research '
        'dataset"\n'
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--run",
        type=Path,
        default=HERE / "runs" / "main",
        help="train.py output folder (best.keras, train_meta.json, curves.csv)",
    )
    p.add_argument(
        "--member",
        type=Path,
        action="append",
        default=[],
        help="another train.py output folder to average with --run (ensemble in one file); "
        "repeatable",
    )
    p.add_argument(
        "--member-prior-run",
        type=Path,
        action="append",
        default=[],
        help="earlier phase folders of the members (curves only, for the training-time total)",
    )
    p.add_argument("--name", default="edge_fer_cnn_int8", help="model id in the manifest entry")
    p.add_argument(
        "--prior-run",
        type=Path,
        action="append",
        default=[],
        help="earlier training phase folders (curves.csv), oldest first, e.g. the run that "
        "--run resumed from",
    )
    p.add_argument(
        "--train-command",
        action="append",
        default=[],
        help="training command line(s) to record in results/<name>.json, in order",
    )
    p.add_argument("--curves-out", type=Path, default=HERE / "curves.csv")
    p.add_argument("--checkpoint", default="best.keras")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "edge_fer_cnn_int8.tflite")
    p.add_argument("--results", type=Path, help="default: models/train/results/<name>.json")
    p.add_argument("--manifest", type=Path, help="default: models/train/results/<name>.toml")
    p.add_argument("--rep-samples", type=int, default=1000)
    p.add_argument("--bench-invokes", type=int, default=2000)
    p.add_argument("--bench-warmup", type=int, default=200)
    return p.parse_args(argv)


def evaluate(model: keras.Model, q: Int8Model, x: Array, y: Array) -> tuple[dict[str, Any], Array]:
    """Float and int8 reports on one split, plus flip-TTA numbers; returns int8 probabilities."""
    pf = model.predict(x, batch_size=512, verbose=0).astype(np.float64)
    pq = q.predict(x)
    x_flip = np.ascontiguousarray(x[:, :, ::-1])
    pf_flip = model.predict(x_flip, batch_size=512, verbose=0).astype(np.float64)
    pq_flip = q.predict(x_flip)
    keys = ("top1", "macro_f1")
    out = {
        "images": len(y),
        "float": report(pf, y),
        "int8": report(pq, y),
        "float_int8_agreement": round(float((pf.argmax(1) == pq.argmax(1)).mean()), 4),
        "tta_flip": {
            "float": {k: v for k, v in report(pf + pf_flip, y).items() if k in keys},
            "int8": {k: v for k, v in report(pq + pq_flip, y).items() if k in keys},
        },
    }
    return out, pq


def temperature_block(
    val_probs: Array, y_val: Array, test_probs: Array, y_test: Array, eps: float
) -> dict[str, Any]:
    """Fit T on validation; NLL and ECE (15 bins) before/after on validation and public_test."""
    t_fit = fit_temperature(val_probs, y_val, eps)
    block: dict[str, Any] = {
        "T": round(t_fit, 4),
        "fitted_on": "validation split of train.npz (int8 dequantized outputs)",
        "formula": "p = softmax(log(max(p_int8_dequant, output_scale/2)) / T)",
        "eps": eps,
    }
    for name, probs, y in (("val", val_probs, y_val), ("public_test", test_probs, y_test)):
        for tag, t in (("before", 1.0), ("after", t_fit)):
            cal = calibrate(probs, t, eps)
            block[f"{name}_nll_{tag}"] = round(nll(cal, y), 4)
            block[f"{name}_ece15_{tag}"] = round(ece(cal, y), 4)
    return block


def check_members(members: list[Path], split_seed: int, val_frac: float) -> None:
    """Refuse ensemble members trained with another validation split (they saw its images)."""
    for member in members:
        m_args = json.loads((member / "train_meta.json").read_text())["args"]
        m_split = (int(m_args.get("split_seed", m_args["seed"])), float(m_args["val_frac"]))
        if m_split != (split_seed, val_frac):
            raise SystemExit(
                f"{member}: validation split {m_split} differs from --run's "
                f"{(split_seed, val_frac)}; its model trained on --run's validation images"
            )


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    a.results = a.results or HERE / "results" / f"{a.name}.json"
    a.manifest = a.manifest or HERE / "results" / f"{a.name}.toml"
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    meta = (
        json.loads((a.run / "train_meta.json").read_text())
        if (a.run / "train_meta.json").exists()
        else {}
    )
    seed = int(meta.get("args", {}).get("seed", 1234))
    split_seed = int(meta.get("args", {}).get("split_seed", seed))
    val_frac = float(meta.get("args", {}).get("val_frac", 0.1))
    check_members(a.member, split_seed, val_frac)

    images, labels = load_npz(a.data_dir / "train.npz")
    tr_idx, val_idx = stratified_split(labels, val_frac, split_seed)
    rng = np.random.default_rng(seed)
    rep_idx = rng.choice(tr_idx, size=a.rep_samples, replace=False)
    x_val, y_val = preprocess(images[val_idx]), labels[val_idx]
    test_images, y_test = load_npz(a.data_dir / "public_test.npz")
    x_test = preprocess(test_images)

    model = ensemble(
        [keras.models.load_model(run / a.checkpoint, compile=False) for run in (a.run, *a.member)]
    )
    tflite = convert_int8(model, preprocess(images[rep_idx]))
    a.out.write_bytes(tflite)
    q = Int8Model(a.out, threads=1)

    res: dict[str, Any] = {"model": a.name, "file": a.out.name}
    res["members"] = [str(run) for run in (a.run, *a.member)]
    res["val"], val_probs = evaluate(model, q, x_val, y_val)
    res["public_test"], test_probs = evaluate(model, q, x_test, y_test)
    res["temperature"] = temperature_block(val_probs, y_val, test_probs, y_test, q.out_scale / 2)
    res["latency_litert_int8"] = q.bench(a.bench_invokes, a.bench_warmup)
    res["size_bytes"] = len(tflite)
    res["sha256"] = hashlib.sha256(tflite).hexdigest()
    res["input_shape"] = [int(v) for v in q.inp["shape"]]
    res["input_quant"] = {"scale": q.in_scale, "zero_point": int(q.in_zp)}
    res["output_quant"] = {"scale": q.out_scale, "zero_point": int(q.out_zp)}
    res["labels"] = list(LABELS)
    res["preprocess"] = (
        "gray -> resize to 48x48 (cv2.INTER_AREA when shrinking, INTER_LINEAR when enlarging) "
        "-> x/255 -> (x-0.5)*2"
    )
    res["params"] = int(model.count_params())
    res["seed"] = seed
    res["split_seed"] = split_seed
    res["member_seeds"] = [
        int(json.loads((m / "train_meta.json").read_text())["args"]["seed"]) for m in a.member
    ]
    res["representative_dataset"] = f"{a.rep_samples} images from the training part of train.npz"
    phases = combine_curves([*a.prior_run, a.run, *a.member_prior_run, *a.member], a.curves_out)
    res["epochs"] = sum(ph["epochs"] for ph in phases)
    res["train_core_s"] = round(sum(ph["wall_s"] for ph in phases), 1)
    res["training_phases"] = phases
    res["training"] = meta
    res["member_training"] = [json.loads((m / "train_meta.json").read_text()) for m in a.member]
    res["commands"] = {"train": a.train_command, "export": " ".join(["python", *sys.argv])}
    write_json(a.results, res)
    a.manifest.write_text(toml_entry(res, a.name))
    t = res["public_test"]
    print(
        json.dumps(
            {
                "float": {k: t["float"][k] for k in ("top1", "macro_f1")},
                "int8": {k: t["int8"][k] for k in ("top1", "macro_f1")},
                "agreement": t["float_int8_agreement"],
                "tta": t["tta_flip"],
                "T": res["temperature"]["T"],
                "ece": [
                    res["temperature"]["public_test_ece15_before"],
                    res["temperature"]["public_test_ece15_after"],
                ],
                "size": res["size_bytes"],
                "ms": res["latency_litert_int8"]["mean_ms"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
