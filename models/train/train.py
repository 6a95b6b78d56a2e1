"""Train the edge_fer_cnn expression classifier on FER2013 (issue 6).

Reads ``train.npz`` (default ``../shared/data/fer2013/train.npz`` beside the repo root), carves a
stratified validation split (10 % by default) for model choice, and trains a compact VGG-style CNN
(eight conv3x3-BN-ReLU layers, 16-32-64-128 channels, ~296k parameters, ~29 M multiply-adds) on
48x48x1 inputs in [-1, 1]. Training uses on-the-fly
augmentation (horizontal flip, rotation/scale/shift, brightness/contrast, random erasing),
label-smoothed cross-entropy with class weights ``(n_max / n_c) ** class_weight_power`` so that
rare classes (disgust) are not ignored, AdamW with linear warm-up and cosine decay. Per-epoch
curves go to ``<out>/curves.csv``; the checkpoint with the best validation score (mean of top-1
and macro-F1) goes to ``<out>/best.keras``; ``<out>/train_meta.json`` records the settings.
``public_test.npz`` is never read here; ``export.py`` does the final report.

``--resume CKPT`` starts from a checkpoint's weights with a fresh optimizer and schedule (the
shipped model was trained in two phases this way: see README.md); ``--stop-after N`` ends a run
after N epochs of its ``--epochs`` schedule and ``--max-minutes`` after the epoch that would pass
a time budget; either way ``last.keras`` holds the final weights.

Every epoch also writes ``<out>/state`` (weights, optimizer variables incl. the step that drives
the LR schedule, dropout's seed state, epoch, best score, elapsed time; see ``robust.py``) and
the first call writes ``<out>/run_args.json``; ``--continue DIR`` resumes a stopped or killed run
at its last finished epoch with the same settings, schedule position and data stream.

Issue 21 (robust training): ``--robust-p P`` degrades a P share of the training images with a
random family of ``edge/tools/eval/conditions.py`` (the ``edge eval --conditions`` suite's own
functions) at a random strength, after the other augmentation; ``--select-perturbed`` chooses
``best.keras`` by the mean of clean and perturbed top-1 and macro-F1 on ``--select-data``.
``--widen-from FILE --channels ...`` starts from a trained network widened to ``--channels``
by Net2WiderNet (``widen.py``: function-preserving, checked, then a little noise).

Run it pinned to one core, e.g.::

    taskset -c 1 python models/train/train.py --epochs 28 --out models/train/runs/main
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
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
    INPUT_SIZE,
    NUM_CLASSES,
    ferplus_holdout,
    load_ferplus,
    load_npz,
    macro_f1,
    preprocess,
    soft_cross_entropy,
    stratified_split,
    vote_targets,
    write_json,
)
from robust import (
    family_weights,
    load_state,
    perturbed_copy,
    robust_batch,
    save_state,
    state_dir,
)

layers = keras.layers


def set_seed(seed: int, threads: int) -> None:
    """Seed python/numpy/TF and limit TF to ``threads`` threads."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


# ----------------------------------------------------------------------------- model


def _conv_bn(x: Any, filters: int, name: str) -> Any:
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_model(
    channels: tuple[int, ...] = (16, 32, 64, 128),
    depths: tuple[int, ...] = (2, 2, 2, 2),
    dropout: float = 0.2,
) -> keras.Model:
    """VGG-style CNN: 48x48x1 in [-1, 1] -> softmax over the 7 FER labels.

    Stage i has ``depths[i]`` conv3x3-BN-ReLU layers with ``channels[i]`` filters and is followed
    by a 2x2 max-pool except the last one (48 -> 24 -> 12 -> 6); then global average pooling,
    dropout and a dense layer. Plain 3x3 convolutions train fastest per multiply-add with
    TensorFlow on one CPU core (depthwise convolutions are several times slower to train there)
    and quantize cleanly to int8.
    """
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="image")
    x = inp
    for i, (ch, depth) in enumerate(zip(channels, depths, strict=True)):
        for j in range(depth):
            x = _conv_bn(x, ch, name=f"s{i + 1}c{j + 1}")
        if i < len(channels) - 1:
            x = layers.MaxPooling2D(2, name=f"s{i + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.Dense(NUM_CLASSES, name="logits")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name="edge_fer_cnn")


# ----------------------------------------------------------------------- augmentation


def _uniform(seed: Any) -> Any:
    """``u(shape, lo, hi)``: TF's stateful uniform draws, or stateless ones keyed by ``seed``
    (an int64 scalar tensor) and a per-call counter, so that a batch's draws depend only on it."""
    if seed is None:
        return lambda shape, lo=0.0, hi=1.0: tf.random.uniform(shape, lo, hi)
    counter = [0]

    def u(shape: Any, lo: float = 0.0, hi: float = 1.0) -> tf.Tensor:
        counter[0] += 1
        key = tf.stack([tf.cast(seed, tf.int64), tf.constant(counter[0], tf.int64)])
        return tf.random.stateless_uniform(shape, seed=key, minval=lo, maxval=hi)

    return u


def augment_batch(x: tf.Tensor, cfg: dict[str, float], seed: Any = None) -> tf.Tensor:
    """Augment a batch of (B,48,48,1) float images in [-1, 1]; returns the same shape.

    One affine warp per image (flip, rotation, scale, shift; reflected border), then per-image
    brightness and contrast, then random erasing of one rectangle with uniform noise. With
    ``seed`` (int64 tensor) the draws are stateless functions of it (resumable runs).
    """
    u = _uniform(seed)
    b = tf.shape(x)[0]
    size = float(INPUT_SIZE)
    ctr = (size - 1.0) / 2.0
    flip = tf.where(u([b]) < 0.5, -1.0, 1.0)
    theta = u([b], -1.0, 1.0) * (cfg["rotate_deg"] * math.pi / 180.0)
    scale = u([b], 1.0 - cfg["scale"], 1.0 + cfg["scale"])
    tx = u([b], -1.0, 1.0) * cfg["shift"] * size
    ty = u([b], -1.0, 1.0) * cfg["shift"] * size
    cos, sin = tf.cos(theta) / scale, tf.sin(theta) / scale
    # output pixel p -> input pixel M (p - c) + c + t, with M = R(theta) / s * diag(flip, 1)
    m00, m01, m10, m11 = cos * flip, -sin, sin * flip, cos
    a2 = ctr + tx - m00 * ctr - m01 * ctr
    b2 = ctr + ty - m10 * ctr - m11 * ctr
    zeros = tf.zeros([b])
    transforms = tf.stack([m00, m01, a2, m10, m11, b2, zeros, zeros], axis=1)
    x = tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transforms,
        output_shape=tf.constant([INPUT_SIZE, INPUT_SIZE]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    # gamma (optional): x01 ** g with log g uniform in +-cfg["gamma"] on the 0..1 range
    if cfg.get("gamma", 0.0) > 0.0:
        log_g = u([b, 1, 1, 1], -cfg["gamma"], cfg["gamma"])
        x01 = tf.clip_by_value((x + 1.0) * 0.5, 1e-4, 1.0)
        x = tf.pow(x01, tf.exp(log_g)) * 2.0 - 1.0
    # brightness / contrast (in [-1, 1] units: brightness 0.2 == 0.1 of the 0..1 range)
    bright = u([b, 1, 1, 1], -cfg["brightness"], cfg["brightness"])
    contrast = u([b, 1, 1, 1], 1.0 - cfg["contrast"], 1.0 + cfg["contrast"])
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = tf.clip_by_value((x - mean) * contrast + mean + bright, -1.0, 1.0)
    # random erasing: area 2-20 %, aspect 0.3-3.3, probability erase_p
    area = u([b], 0.02, 0.2) * size * size
    log_r = u([b], math.log(0.3), math.log(3.3))
    h = tf.clip_by_value(tf.round(tf.sqrt(area * tf.exp(log_r))), 1.0, size)
    w = tf.clip_by_value(tf.round(tf.sqrt(area / tf.exp(log_r))), 1.0, size)
    y0 = tf.floor(u([b]) * (size - h + 1.0))
    x0 = tf.floor(u([b]) * (size - w + 1.0))
    rng = tf.range(size)
    rows = (rng[None, :] >= y0[:, None]) & (rng[None, :] < (y0 + h)[:, None])
    cols = (rng[None, :] >= x0[:, None]) & (rng[None, :] < (x0 + w)[:, None])
    do = u([b]) < cfg["erase_p"]
    mask = rows[:, :, None] & cols[:, None, :] & do[:, None, None]
    noise = u(tf.shape(x), -1.0, 1.0)
    return tf.where(mask[..., None], noise, x)


# --------------------------------------------------------------------------- training


class EvalLogger(keras.callbacks.Callback):
    """Per-epoch validation top-1/macro-F1, CSV curve logging and best-checkpoint saving."""

    def __init__(
        self,
        x_val: np.ndarray,
        y_val: np.ndarray,
        out_dir: Path,
        *,
        schedule: keras.optimizers.schedules.LearningRateSchedule,
        steps_per_epoch: int,
        max_s: float,
        stop_after: int = 0,
        val_targets: np.ndarray | None = None,
        select: tuple[np.ndarray, np.ndarray] | None = None,
        keep_epochs: bool = False,
        select_perturbed: np.ndarray | None = None,
        resume_info: dict[str, Any] | None = None,
        run_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # x of the fixed perturbed copy of the select set: score = mean of clean and perturbed
        # top-1 and macro-F1 (issue 21)
        self.select_perturbed = select_perturbed
        self.run_info = run_info or {}
        self.val_targets = val_targets  # soft targets: val_loss = CE vs them, y_val may hold -1
        self.select = select  # (x, y): the model-choice set; score = its (top-1 + macro-F1) / 2
        self.keep_epochs = keep_epochs
        self.max_s = max_s
        self.stop_after = stop_after
        self.x_val, self.y_val = x_val, y_val
        self.out_dir = out_dir
        self.schedule = schedule
        self.steps_per_epoch = steps_per_epoch
        self.best = -1.0
        self.best_epoch = 0
        self.history_rows: list[list[Any]] = []
        self.t0 = time.time()
        self.elapsed0 = 0.0  # seconds of earlier sessions of a continued run
        if resume_info is not None:
            self.best = float(resume_info["best"])
            self.best_epoch = int(resume_info["best_epoch"])
            self.elapsed0 = float(resume_info["elapsed_s"])
        self.t_epoch = time.time()
        self.csv_path = out_dir / "curves.csv"
        self.fields = [
            "epoch",
            "lr",
            "loss",
            "accuracy",
            "val_loss",
            "val_top1",
            "val_macro_f1",
            "val_score",
            "epoch_s",
            "elapsed_s",
        ]
        if select is not None:
            self.fields[7:7] = ["sel_top1", "sel_macro_f1"]
        if select_perturbed is not None:
            self.fields[9:9] = ["pert_top1", "pert_macro_f1"]
        if resume_info is None or not self.csv_path.exists():
            with self.csv_path.open("w", newline="") as f:
                csv.writer(f).writerow(self.fields)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.t_epoch = time.time()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        probs = self.model.predict(self.x_val, batch_size=512, verbose=0)
        if self.val_targets is not None:
            nll = soft_cross_entropy(probs, self.val_targets)
            has = self.y_val >= 0
            pred, y_val = probs[has].argmax(axis=1), self.y_val[has]
        else:
            pred, y_val = probs.argmax(axis=1), self.y_val
            nll = float(-np.log(np.clip(probs[np.arange(len(y_val)), y_val], 1e-7, 1)).mean())
        top1 = float((pred == y_val).mean())
        mf1 = macro_f1(y_val, pred)
        score = (top1 + mf1) / 2.0
        sel: list[str] = []
        if self.select is not None:
            sp = self.model.predict(self.select[0], batch_size=512, verbose=0).argmax(axis=1)
            s_top1 = float((sp == self.select[1]).mean())
            s_mf1 = macro_f1(self.select[1], sp)
            score = (s_top1 + s_mf1) / 2.0
            sel = [f"{s_top1:.4f}", f"{s_mf1:.4f}"]
            if self.select_perturbed is not None:
                pp = self.model.predict(self.select_perturbed, batch_size=512, verbose=0)
                p_top1 = float((pp.argmax(axis=1) == self.select[1]).mean())
                p_mf1 = macro_f1(self.select[1], pp.argmax(axis=1))
                score = (s_top1 + s_mf1 + p_top1 + p_mf1) / 4.0
                sel += [f"{p_top1:.4f}", f"{p_mf1:.4f}"]
        lr = float(self.schedule((epoch + 1) * self.steps_per_epoch))
        row = [
            epoch + 1,
            f"{lr:.6g}",
            f"{logs.get('loss', float('nan')):.4f}",
            f"{logs.get('accuracy', float('nan')):.4f}",
            f"{nll:.4f}",
            f"{top1:.4f}",
            f"{mf1:.4f}",
            *sel,
            f"{score:.4f}",
            f"{time.time() - self.t_epoch:.1f}",
            f"{self.elapsed0 + time.time() - self.t0:.1f}",
        ]
        self.history_rows.append(row)
        with self.csv_path.open("a", newline="") as f:
            csv.writer(f).writerow(row)
        n_run = len(self.history_rows)
        if self.max_s and (time.time() - self.t0) * (n_run + 1) / n_run > self.max_s:
            print("time budget reached: stopping", flush=True)
            self.model.stop_training = True
        if self.stop_after and epoch + 1 >= self.stop_after:
            self.model.stop_training = True
        if self.keep_epochs:
            (self.out_dir / "epochs").mkdir(exist_ok=True)
            self.model.save(self.out_dir / "epochs" / f"ep{epoch + 1:03d}.keras")
            self.model.save(self.out_dir / "last.keras")
        if score > self.best:
            self.best, self.best_epoch = score, epoch + 1
            self.model.save(self.out_dir / "best.keras")
        # resume point: written last, so a kill before it replays this epoch
        save_state(
            self.out_dir,
            self.model,
            self.model.optimizer,
            {
                **self.run_info,
                "epoch": epoch + 1,
                "best": self.best,
                "best_epoch": self.best_epoch,
                "elapsed_s": round(self.elapsed0 + time.time() - self.t0, 1),
                "iterations": int(self.model.optimizer.iterations.numpy()),
            },
        )
        print(dict(zip(self.fields, row, strict=True)), "best", self.best_epoch, flush=True)


def init_from_tflite(model: keras.Model, path: Path, x_calib: np.ndarray) -> None:
    """Warm start: load the dequantized weights of an int8 ``edge_fer_cnn`` TFLite file.

    The converter folded each BatchNorm into its conv (int8 per-channel weights + int32 bias).
    Each conv gets the dequantized folded kernel; its BatchNorm is then set so that it is the
    identity plus the folded bias in inference mode AND close to it in training mode: moving
    mean/variance = the per-channel mean/variance of the conv output on ``x_calib``, gamma =
    sqrt(variance + eps), beta = bias + mean.
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    by_name = {d["name"]: d for d in interp.get_tensor_details()}

    def deq(d: dict[str, Any]) -> np.ndarray:
        q = d["quantization_parameters"]
        scales = np.asarray(q["scales"], np.float64)
        zps = np.asarray(q["zero_points"], np.float64)
        v = interp.get_tensor(d["index"]).astype(np.float64)
        shape = [-1 if i == q["quantized_dimension"] else 1 for i in range(v.ndim)]
        return ((v - zps.reshape(shape)) * scales.reshape(shape)).astype(np.float32)

    def find(pred: Any) -> dict[str, Any]:
        hits = [d for n, d in by_name.items() if pred(n, d)]
        if len(hits) != 1:
            raise SystemExit(f"{path}: {len(hits)} tensors match")
        return hits[0]

    convs = [ly for ly in model.layers if isinstance(ly, layers.Conv2D)]
    biases: dict[str, np.ndarray] = {}
    for conv in convs:
        base = conv.name[: -len("_conv")]
        w = deq(find(lambda n, d, b=base: n.endswith(f"{b}_conv_1/convolution")))
        bias = deq(
            find(
                lambda n, d, b=base: (
                    n.startswith(f"edge_fer_cnn_1/{b}_relu_1/Relu;") and len(d["shape"]) == 1
                )
            )
        )
        conv.set_weights([w.transpose(1, 2, 3, 0)])  # OHWI -> HWIO
        bn = model.get_layer(f"{base}_bn")
        eps = bn.epsilon
        ones = np.ones_like(bias)
        bn.set_weights([ones, bias, np.zeros_like(bias), ones - eps])
        biases[base] = bias
    dense = model.get_layer("logits")
    dense.set_weights(
        [deq(find(lambda n, d: n.endswith("logits_1/MatMul"))).T,
         deq(find(lambda n, d: n.endswith("logits_1/BiasAdd") and len(d["shape"]) == 1))]
    )  # fmt: skip
    probe = keras.Model(model.inputs, [c.output for c in convs])
    outs = probe.predict(x_calib, batch_size=256, verbose=0)
    for conv, z in zip(convs, outs, strict=True):
        base = conv.name[: -len("_conv")]
        bn = model.get_layer(f"{base}_bn")
        m = z.mean(axis=(0, 1, 2))
        v = z.var(axis=(0, 1, 2))
        bn.set_weights([np.sqrt(v + bn.epsilon), biases[base] + m, m, v])


def start_weights(
    a: argparse.Namespace, model: keras.Model, x_tr: np.ndarray, x_sel: np.ndarray
) -> None:
    """Starting weights of a new run: ``--init-tflite`` (``init_from_tflite``), or
    ``--widen-from``: copy the trained source network into ``model`` (Net2WiderNet, see
    widen.py), check the exact copy on the first 500 ``x_sel`` faces, write the check to
    ``<out>/widen_check.json``."""
    if a.init_tflite is not None:
        init_from_tflite(model, a.init_tflite, x_tr[:: max(len(x_tr) // 2000, 1)])
    if a.widen_from is None:
        return
    from widen import source_model, widen

    depths = tuple(int(v) for v in a.depths.split(","))
    src = source_model(a.widen_from, depths, x_tr[:: max(len(x_tr) // 2000, 1)])
    res = widen(src, model, seed=a.seed, noise=a.widen_noise, x_check=x_sel[:500])
    res["source"] = str(a.widen_from)
    write_json(a.out / "widen_check.json", res)
    print("widened", json.dumps(res), flush=True)


def class_weights(y: np.ndarray, power: float) -> np.ndarray:
    """Per-class loss weights ``(n_max / n_c) ** power``, rescaled to mean 1 over samples."""
    counts = np.bincount(y, minlength=NUM_CLASSES).astype(np.float64)
    w = (counts.max() / counts) ** power
    return w / (w[y].mean())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (defaults are the settings of the shipped model)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="training .npz (default: ../shared/data/fer2013/train.npz, or "
        "../shared/data/ferplus/train.npz with --targets votes)",
    )
    p.add_argument(
        "--targets",
        choices=("labels", "votes"),
        default="labels",
        help="labels: FER2013 single labels (issue 6); votes: FER+ crowd-vote distributions "
        "(issue 14: cross-entropy against the renormalised 7-label votes, validation = the FER+ "
        "images whose FER2013 twin is in the FER2013 --split-seed split, model choice on "
        "--select-data majority labels)",
    )
    p.add_argument(
        "--select-data",
        type=Path,
        default=DEFAULT_FERPLUS_DIR / "valid.npz",
        help="with --targets votes: FER+ file whose majority labels choose best.keras",
    )
    p.add_argument(
        "--fer2013-train",
        type=Path,
        default=DEFAULT_DATA_DIR / "train.npz",
        help="with --targets votes: FER2013 train.npz that defines the validation split",
    )
    p.add_argument(
        "--init-tflite",
        type=Path,
        default=None,
        help="start from the dequantized weights of an int8 edge_fer_cnn .tflite (BatchNorm "
        "re-fitted around the folded weights, see init_from_tflite)",
    )
    p.add_argument(
        "--widen-from",
        type=Path,
        default=None,
        help="issue 21: start from this trained network (an int8 edge_fer_cnn .tflite, loaded as "
        "with --init-tflite, or a .keras checkpoint) widened to --channels (same --depths) by "
        "Net2WiderNet (widen.py); checks that the exact copy computes the same outputs on 500 "
        "--select-data faces and writes <out>/widen_check.json",
    )
    p.add_argument(
        "--widen-noise",
        type=float,
        default=0.02,
        help="with --widen-from: std of the noise added to the new channels' kernels, relative "
        "to the std of the layer's source kernel (breaks the replicas' symmetry)",
    )
    p.add_argument("--brightness", type=float, default=0.2, help="max shift, [-1, 1] units")
    p.add_argument("--contrast", type=float, default=0.3, help="max relative change")
    p.add_argument("--gamma", type=float, default=0.0, help="max |log gamma| (0 = off)")
    p.add_argument(
        "--keep-epochs",
        action="store_true",
        help="save every epoch's weights to <out>/epochs/epNNN.keras and <out>/last.keras",
    )
    p.add_argument(
        "--initial-epoch",
        type=int,
        default=0,
        help="continue an interrupted run from --resume at this epoch of the same schedule",
    )
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "runs" / "main")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--channels", type=str, default="16,32,64,128")
    p.add_argument("--depths", type=str, default="2,2,2,2")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop after the epoch that would push training past this (0 = off)",
    )
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="start from this checkpoint's weights (fresh AdamW, schedule from --lr, "
        "--warmup-epochs, --epochs) instead of a new model",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        default=0,
        help="stop after this many epochs, keeping the --epochs schedule (0 = off); reproduces "
        "a run that --max-minutes cut short",
    )
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--class-weight-power", type=float, default=0.5)
    p.add_argument("--rotate", type=float, default=12.0, help="max rotation, degrees")
    p.add_argument("--erase-p", type=float, default=0.3, help="random-erasing probability")
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1234, help="seed of init, shuffling, augmentation")
    p.add_argument(
        "--split-seed",
        type=int,
        default=1234,
        help="seed of the validation split; keep it fixed across ensemble members so that no "
        "member trains on another one's validation images",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="use only N training images (smoke test)")
    p.add_argument("--summary", action="store_true", help="print the model summary and exit")
    p.add_argument(
        "--robust-p",
        type=float,
        default=0.0,
        help="issue 21: share of training images that get one random degradation family of "
        "edge/tools/eval/conditions.py at a strength uniform in none..severe, after the other "
        "augmentation (0 = off). Non-zero also switches to the resumable data pipeline "
        "(per-epoch shuffle and stateless augmentation draws keyed by seed and step)",
    )
    p.add_argument(
        "--select-perturbed",
        action="store_true",
        help="with --targets votes: choose best.keras by the mean of clean and perturbed top-1 "
        "and macro-F1 on --select-data (perturbed: a fixed copy, every family at mild and "
        "moderate strength, one condition per image, seed 2121)",
    )
    p.add_argument(
        "--continue",
        dest="continue_dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="continue the stopped run in DIR where it was (weights, optimizer and LR position, "
        "epoch, best score from DIR/state; every setting from DIR/run_args.json except "
        "--max-minutes and --stop-after, which this command line sets)",
    )
    p.add_argument(
        "--robust-power",
        type=float,
        default=1.0,
        help="with --robust-p: strengths none + (severe - none) * u**POWER, u uniform; 1 = "
        "uniform (the earlier runs), > 1 = more mild than severe degradations",
    )
    p.add_argument(
        "--teacher",
        type=Path,
        default=None,
        help="with --targets votes: soft targets of an ensemble from teacher.py, one row per "
        "face of --data; the training target becomes (1 - w) * votes + w * teacher",
    )
    p.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        help="w of --teacher in the training target (0..1)",
    )
    p.add_argument(
        "--consistency",
        type=float,
        default=0.0,
        metavar="LAMBDA",
        help="with --robust-p: every batch carries each augmented face twice, as it is and "
        "degraded (with probability --robust-p), and the loss is the cross-entropy of both plus "
        "LAMBDA x the Jensen-Shannon divergence between the pair's outputs (AugMix-style "
        "consistency; about 2x the time per epoch; 0 = off)",
    )
    p.add_argument(
        "--robust-family-weights",
        default=None,
        metavar="NAME=W,...",
        help="with --robust-p: relative weights of the degradation families (edge eval "
        "--conditions names; 1 for a family not named), e.g. gaussian_blur=3,resolution=3; "
        "default: every family equally likely",
    )
    p.add_argument(
        "--consistency-anchor",
        choices=("both", "clean"),
        default="both",
        help="with --consistency: both = the divergence moves both views' outputs (AugMix); "
        "clean = it moves only the degraded view's (the clean output is held fixed there, so "
        "consistency cannot pull clean estimates towards the degraded ones)",
    )
    a = p.parse_args(argv)
    check_args(p, a)
    return a


def check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """Refuse combinations and values that parse but make no sense (exit 2 with the fix)."""
    if a.teacher is not None and a.targets != "votes":
        p.error("--teacher needs --targets votes")
    if not a.robust_power > 0:  # also NaN
        p.error(f"--robust-power {a.robust_power}: use a number > 0 (1 = uniform strengths)")
    if not 0.0 <= a.teacher_weight <= 1.0:
        p.error(f"--teacher-weight {a.teacher_weight}: use a number from 0 to 1")
    if a.widen_from is not None and (a.init_tflite is not None or a.resume is not None):
        p.error("--widen-from replaces --init-tflite and --resume: give only one of them")
    if not a.consistency >= 0.0:  # also NaN
        p.error(f"--consistency {a.consistency}: use a number >= 0 (0 = off)")
    if a.robust_family_weights is not None:
        try:
            family_weights(a.robust_family_weights)
        except ValueError as exc:
            p.error(f"--robust-family-weights: {exc}")
    if a.consistency_anchor != "both" and not a.consistency > 0:
        p.error("--consistency-anchor needs --consistency LAMBDA > 0: add it or drop the anchor")
    if a.consistency > 0 and a.robust_p <= 0:
        p.error("--consistency needs --robust-p > 0 (the degraded copy of each face)")


PATH_ARGS = (
    "data", "select_data", "fer2013_train", "init_tflite", "out", "resume", "widen_from", "teacher"
)


def continued_args(a: argparse.Namespace) -> argparse.Namespace:
    """The saved settings of the run in ``a.continue_dir`` (+ this call's time limits)."""
    d = a.continue_dir
    saved = json.loads((d / "run_args.json").read_text())
    saved.setdefault("widen_from", None)  # runs started before --widen-from existed
    saved.setdefault("widen_noise", 0.0)
    saved.setdefault("teacher", None)  # runs started before --teacher existed
    saved.setdefault("teacher_weight", 0.5)
    saved.setdefault("robust_power", 1.0)
    saved.setdefault("consistency", 0.0)  # runs started before --consistency existed
    saved.setdefault("consistency_anchor", "both")
    saved.setdefault("robust_family_weights", None)
    for k in PATH_ARGS:
        if saved.get(k) is not None:
            saved[k] = Path(saved[k])
    saved.update(continue_dir=d, out=d, max_minutes=a.max_minutes, stop_after=a.stop_after)
    return argparse.Namespace(**saved)


def make_resumable_dataset(
    x: np.ndarray,
    y: np.ndarray,
    sample_w: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    aug_cfg: dict[str, float],
    robust_p: float,
    robust_power: float = 1.0,
    families: dict[str, float] | None = None,
    first_epoch: int,
    epochs: int,
    paired: bool = False,
) -> tf.data.Dataset:
    """(x, y, w) batches for epochs ``first_epoch .. epochs-1`` whose content depends only on
    (seed, epoch, step): epoch e's order is ``default_rng([seed, e]).permutation``, the TF
    augmentation uses stateless draws keyed by the global step, and the robustness degradations
    (``robust.robust_batch``) a numpy generator keyed by it too. A continued run therefore sees
    exactly the batches the uninterrupted run would have seen.

    With ``paired`` (``--consistency``) a batch holds 2B faces: the B augmented faces, then the
    same B faces degraded (``robust_p`` of them), with the targets and weights repeated; the
    loss (:func:`paired_loss`) pairs row i with row i + B."""
    n = len(y)
    steps = n // batch_size
    order = np.concatenate(
        [np.random.default_rng([seed, e]).permutation(n)[: steps * batch_size]
         for e in range(first_epoch, epochs)]
    ).reshape(-1, batch_size).astype(np.int64)  # fmt: skip
    step_ids = np.arange(first_epoch * steps, epochs * steps, dtype=np.int64)
    x_u8 = tf.constant(np.rint((x + 1.0) * 127.5).astype(np.uint8))
    ys = tf.constant(y.astype(np.float32))
    ws = tf.constant(sample_w.astype(np.float32))

    def degrade(batch: np.ndarray, step: np.int64) -> np.ndarray:
        return robust_batch(
            batch, int(step), p=robust_p, seed=seed, power=robust_power, weights=families
        )

    def load(step: tf.Tensor, idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        xb = tf.cast(tf.gather(x_u8, idx), tf.float32) / 127.5 - 1.0
        xb = augment_batch(xb, aug_cfg, seed=step + seed * 1_000_000_000)
        yb, wb = tf.gather(ys, idx), tf.gather(ws, idx)
        if robust_p > 0:
            u8 = tf.cast(tf.round((xb + 1.0) * 127.5), tf.uint8)
            u8 = tf.numpy_function(degrade, [u8, step], tf.uint8, stateful=False)
            u8 = tf.ensure_shape(u8, [batch_size, INPUT_SIZE, INPUT_SIZE, 1])
            xd = tf.cast(u8, tf.float32) / 127.5 - 1.0
            if paired:
                # the clean view is re-quantized like the degraded one (same input grid)
                xc = tf.round((xb + 1.0) * 127.5) / 127.5 - 1.0
                return tf.concat([xc, xd], 0), tf.concat([yb, yb], 0), tf.concat([wb, wb], 0)
            xb = xd
        return xb, yb, wb

    return (
        tf.data.Dataset.from_tensor_slices((step_ids, order))
        .map(load, num_parallel_calls=1)
        .prefetch(2)
    )


def paired_loss(lam: float, label_smoothing: float = 0.0, *, anchor_clean: bool = False) -> Any:
    """Per-face loss for ``--consistency``: a batch of 2B softmax outputs whose row i and row
    i + B are two views of one face; each row gets its cross-entropy against its target plus
    ``lam`` x the pair's Jensen-Shannon divergence (so the batch mean is mean CE + lam x mean JS).
    With ``anchor_clean`` no gradient flows through the clean view (rows < B) in that term.
    """
    eps = 1e-7

    def loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        k = tf.cast(tf.shape(y_true)[-1], y_true.dtype)
        y = y_true * (1.0 - label_smoothing) + label_smoothing / k
        p = tf.clip_by_value(y_pred, eps, 1.0)
        ce = -tf.reduce_sum(y * tf.math.log(p), axis=-1)
        a, b = tf.split(p, 2, axis=0)
        if anchor_clean:
            a = tf.stop_gradient(a)
        m = 0.5 * (a + b)
        log_m = tf.math.log(m)
        js = 0.5 * (
            tf.reduce_sum(a * (tf.math.log(a) - log_m), axis=-1)
            + tf.reduce_sum(b * (tf.math.log(b) - log_m), axis=-1)
        )
        return ce + lam * tf.concat([js, js], 0)

    return loss


def training_loss(a: argparse.Namespace) -> Any:
    """The paired consistency loss with ``--consistency``, else label-smoothed cross-entropy."""
    if a.consistency > 0:
        anchor = a.consistency_anchor == "clean"
        return paired_loss(a.consistency, a.label_smoothing, anchor_clean=anchor)
    return keras.losses.CategoricalCrossentropy(label_smoothing=a.label_smoothing)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    sample_w: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    aug_cfg: dict[str, float],
) -> tf.data.Dataset:
    """Shuffled, batched, augmented (x, target distribution y, sample weight) stream."""
    return (
        tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32), sample_w.astype(np.float32)))
        .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(lambda xb, yb, wb: (augment_batch(xb, aug_cfg), yb, wb), num_parallel_calls=1)
        .prefetch(2)
    )


def load_data(a: argparse.Namespace) -> tuple[Any, ...]:
    """Training and validation arrays for ``--targets``.

    Returns (x_tr, y_tr, t_tr, x_val, y_val, t_val, select, dropped): with ``labels`` the soft
    targets t_* and ``select`` are None; with ``votes`` y_tr is the vote plurality (used for the
    class weights only), y_val the FER+ majority (-1 = none), t_* the vote distributions and
    ``select`` the (x, majority) of ``--select-data`` images that have a majority.
    """
    votes = a.targets == "votes"
    if a.data is None:
        a.data = (DEFAULT_FERPLUS_DIR if votes else DEFAULT_DATA_DIR) / "train.npz"
    t_tr = t_val = None
    select = None
    dropped = 0
    if votes:
        fp = load_ferplus(a.data)
        images, labels = fp["images"], fp["majority"]
        targets, keep = vote_targets(fp["votes"])
        if getattr(a, "teacher", None) is not None:
            targets = blend_teacher(targets, fp["images"], a.teacher, a.teacher_weight)
        is_val = ferplus_holdout(images, a.fer2013_train, a.val_frac, a.split_seed)
        dropped = int((~keep).sum())
        tr_idx, val_idx = np.flatnonzero(keep & ~is_val), np.flatnonzero(keep & is_val)
        sel = load_ferplus(a.select_data)
        has = sel["majority"] >= 0
        select = (preprocess(sel["images"][has]), sel["majority"][has])
    else:
        images, labels = load_npz(a.data)
        tr_idx, val_idx = stratified_split(labels, a.val_frac, a.split_seed)
    if a.limit:
        tr_idx = np.random.default_rng(a.seed).permutation(tr_idx)[: a.limit]
    x_tr, y_tr = preprocess(images[tr_idx]), labels[tr_idx]
    x_val, y_val = preprocess(images[val_idx]), labels[val_idx]
    if votes:
        t_tr, t_val = targets[tr_idx], targets[val_idx]
        y_tr = t_tr.argmax(axis=1)
    return x_tr, y_tr, t_tr, x_val, y_val, t_val, select, dropped


def blend_teacher(
    targets: np.ndarray, images: np.ndarray, path: Path, weight: float
) -> np.ndarray:
    """``(1 - weight) * targets + weight * teacher`` with the ensemble's soft targets from
    ``teacher.py``; refuses a file made for other images."""
    import hashlib

    with np.load(path, allow_pickle=False) as t:
        probs = np.asarray(t["probs"], dtype=np.float32)
        sha = str(t["images_sha256"])
    if sha != hashlib.sha256(images.tobytes()).hexdigest() or probs.shape != targets.shape:
        raise SystemExit(f"{path}: made for other images than --data; run teacher.py on them")
    print(f"teacher {path} weight {weight}", flush=True)
    return ((1.0 - weight) * targets + weight * probs).astype(np.float32)


def make_optimizer(a: argparse.Namespace, steps: int) -> tuple[Any, keras.optimizers.AdamW]:
    """Linear warm-up + cosine decay over ``a.epochs`` epochs of ``steps`` steps; AdamW."""
    total = steps * a.epochs
    warm = int(steps * a.warmup_epochs)
    sched = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=a.lr * 0.01,
        decay_steps=max(total - warm, 1),
        alpha=0.0,
        warmup_target=a.lr,
        warmup_steps=warm,
    )
    return sched, keras.optimizers.AdamW(learning_rate=sched, weight_decay=a.weight_decay)


def setup_continue(a: argparse.Namespace) -> tuple[argparse.Namespace, Path | None]:
    """With ``--continue DIR``: the saved settings with ``initial_epoch`` at the saved epoch,
    and the state folder to restore; otherwise ``a`` unchanged and None."""
    if a.continue_dir is None:
        return a, None
    a = continued_args(a)
    state = state_dir(a.continue_dir)
    a.initial_epoch = int(json.loads((state / "state.json").read_text())["epoch"])
    return a, state


def perturbed_select(
    a: argparse.Namespace, select: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray | None:
    """The fixed perturbed copy of the select set's x for ``--select-perturbed`` (else None)."""
    if not a.select_perturbed:
        return None
    if select is None:
        raise SystemExit("--select-perturbed needs --targets votes (the --select-data set)")
    u8 = np.rint((select[0][..., 0] + 1.0) * 127.5).astype(np.uint8)
    return preprocess(perturbed_copy(u8)[0])


def main(argv: list[str] | None = None) -> int:
    a, state = setup_continue(parse_args(argv))
    if state is not None and a.initial_epoch >= a.epochs:
        print(f"{a.continue_dir}: all {a.epochs} epochs done; nothing to continue")
        return 0
    resumable = a.robust_p > 0 or state is not None
    set_seed(a.seed, a.threads)  # dropout's seed-generator state is restored with the weights
    if a.resume is not None and state is None:
        model = keras.models.load_model(a.resume, compile=False)
    else:
        channels = tuple(int(v) for v in a.channels.split(","))
        model = build_model(channels, tuple(int(v) for v in a.depths.split(",")), a.dropout)
    if a.summary:
        model.summary()
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    if state is None:
        saved = {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}
        (a.out / "run_args.json").write_text(json.dumps(saved, indent=2) + "\n")

    votes = a.targets == "votes"
    x_tr, y_tr, t_tr, x_val, y_val, t_val, select, dropped = load_data(a)
    cw = class_weights(y_tr, a.class_weight_power)
    print(
        f"train {len(y_tr)} val {len(y_val)} dropped {dropped} "
        f"class weights {np.round(cw, 3).tolist()}",
        flush=True,
    )
    if state is None:
        start_weights(a, model, x_tr, select[0] if select is not None else x_val)
    select_perturbed = perturbed_select(a, select)

    aug_cfg = {
        "rotate_deg": a.rotate,
        "scale": 0.1,
        "shift": 0.08,
        "brightness": a.brightness,
        "contrast": a.contrast,
        "erase_p": a.erase_p,
    }
    aug_cfg.update({"gamma": a.gamma} if a.gamma > 0 else {})
    y_fit = t_tr if votes else np.eye(NUM_CLASSES, dtype=np.float32)[y_tr]
    if resumable:
        ds = make_resumable_dataset(
            x_tr, y_fit, cw[y_tr], batch_size=a.batch_size, seed=a.seed, aug_cfg=aug_cfg,
            robust_p=a.robust_p, robust_power=a.robust_power, first_epoch=a.initial_epoch,
            epochs=a.epochs, paired=a.consistency > 0, families=(
                family_weights(a.robust_family_weights) if a.robust_family_weights else None
            ),
        )  # fmt: skip
    else:
        ds = make_dataset(
            x_tr, y_fit, cw[y_tr], batch_size=a.batch_size, seed=a.seed, aug_cfg=aug_cfg
        )
    steps = len(y_tr) // a.batch_size
    sched, opt = make_optimizer(a, steps)
    resume_info = None
    if state is not None:
        opt.build(model.trainable_variables)
        resume_info = load_state(state, model, opt)
        print(f"continuing {a.continue_dir} after epoch {a.initial_epoch} (step "
              f"{int(opt.iterations.numpy())}, best epoch {resume_info['best_epoch']})", flush=True)
    elif a.initial_epoch:
        opt.build(model.trainable_variables)
        opt.iterations.assign(a.initial_epoch * steps)
    model.compile(
        optimizer=opt,
        loss=training_loss(a),
        metrics=["accuracy"],
    )
    print(f"params {model.count_params()} steps/epoch {steps} epochs {a.epochs}", flush=True)
    logger = EvalLogger(
        x_val,
        y_val,
        a.out,
        schedule=sched,
        steps_per_epoch=steps,
        max_s=a.max_minutes * 60.0,
        stop_after=a.stop_after,
        val_targets=t_val,
        select=select,
        keep_epochs=a.keep_epochs,
        select_perturbed=select_perturbed,
        resume_info=resume_info,
    )
    t0 = time.time()
    model.fit(
        ds,
        epochs=a.epochs,
        initial_epoch=a.initial_epoch,
        steps_per_epoch=steps if resumable else None,
        callbacks=[logger],
        verbose=2,
    )
    wall = time.time() - t0
    model.save(a.out / "last.keras")
    meta = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
        "command": " ".join(["python", *sys.argv]),
        "augmentation": aug_cfg,
        "class_weights": [round(float(v), 4) for v in cw],
        "params": int(model.count_params()),
        "train_images": len(y_tr),
        "val_images": len(y_val),
        "dropped_images": dropped,
        "epochs_run": len(logger.history_rows),
        "sessions_elapsed_s": round(logger.elapsed0 + wall, 1),
        "robust_augmentation": a.robust_p,
        "best_epoch": logger.best_epoch,
        "best_val_score": round(logger.best, 4),
        "train_wall_s": round(wall, 1),
        "tf_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    write_json(a.out / "train_meta.json", meta)
    print(f"done in {wall:.0f}s; best epoch {logger.best_epoch} score {logger.best:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
