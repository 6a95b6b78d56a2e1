"""Function-preserving widening of an edge_fer_cnn model (Net2WiderNet, Chen et al. 2016).

``net2wider(src, dst, seed, noise)`` copies a trained ``train.build_model`` network ``src`` into a
wider one ``dst`` of the same depths (every stage at least as wide): output channel ``j`` of a
conv is channel ``g(j)`` of the source conv (``g(j) = j`` for the existing channels, a random
existing channel, drawn with replacement, for each new one): its kernel and its BatchNorm's
gamma, beta, moving mean and moving variance are copied. The next layer (the next conv, or the
dense layer after global average pooling) takes input channel ``j`` with the source weights of
``g(j)`` divided by the number of channels that replicate ``g(j)``, so the widened network
computes the same function (in inference mode, and in training mode too: replicated channels
have the same batch statistics). Then ``noise`` breaks the symmetry: Gaussian noise with std
``noise x`` (std of that layer's source kernel) is added to the kernels of the new output
channels only, which changes the function a little (reported by the check).

``train.py --widen-from FILE --channels ...`` uses it at the start of a run; this script runs the
check alone::

    python models/train/widen.py --widen-from models/edge_ferplus_cnn_int8.tflite \\
        --channels 16,32,64,256 --faces 500

It prints (and ``--json`` writes) the max abs difference of the softmax outputs and the argmax
agreement between the source and the widened float model on the first ``--faces`` FER+ valid
faces, before and after the noise, and fails (exit 1) when the exact copy differs by more than
``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from tensorflow import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))

layers = keras.layers


def _convs(model: keras.Model) -> list[Any]:
    return [ly for ly in model.layers if isinstance(ly, layers.Conv2D)]


def tflite_channels(path: Path, depths: tuple[int, ...]) -> tuple[int, ...]:
    """Stage widths of an int8 edge_fer_cnn file (output channels of each stage's first conv)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    details = interp.get_tensor_details()
    out = []
    for i in range(len(depths)):
        hits = [d for d in details if d["name"].endswith(f"s{i + 1}c1_conv_1/convolution")]
        if len(hits) != 1:
            raise SystemExit(f"{path}: no single conv weight tensor for stage {i + 1}")
        out.append(int(hits[0]["shape"][0]))
    return tuple(out)


def source_model(path: Path, depths: tuple[int, ...], x_calib: np.ndarray) -> keras.Model:
    """The trained network to widen: a .keras checkpoint, or an int8 .tflite loaded like
    ``train.py --init-tflite`` (``train.init_from_tflite``, BatchNorm re-fitted on ``x_calib``)."""
    from train import build_model, init_from_tflite

    if path.suffix == ".keras":
        return keras.models.load_model(path, compile=False)
    model = build_model(tflite_channels(path, depths), depths)
    init_from_tflite(model, path, x_calib)
    return model


def net2wider(src: keras.Model, dst: keras.Model, seed: int, noise: float) -> dict[str, Any]:
    """Copy ``src`` into the wider ``dst`` (same layer names); return the channel maps used.

    The maps are drawn from ``default_rng([seed, 22])`` and the noise from a separate
    ``default_rng([seed, 23])``, so the maps do not depend on ``noise``."""
    rng, rng_noise = np.random.default_rng([seed, 22]), np.random.default_rng([seed, 23])
    src_convs, dst_convs = _convs(src), _convs(dst)
    if [c.name for c in src_convs] != [c.name for c in dst_convs]:
        raise SystemExit("--widen-from: source and target must have the same depths (layer names)")
    g_in = np.arange(src_convs[0].kernel.shape[2])  # input image: 1 channel, not widened
    count_in = np.ones(len(g_in))
    maps: dict[str, list[int]] = {}
    for sc, dc in zip(src_convs, dst_convs, strict=True):
        w = np.asarray(sc.get_weights()[0])  # HWIO
        n_old, n_new = w.shape[3], dc.kernel.shape[3]
        if n_new < n_old:
            raise SystemExit(f"--channels: {dc.name} has {n_new} < {n_old} channels (widen only)")
        g = np.concatenate([np.arange(n_old), rng.integers(0, n_old, n_new - n_old)])
        count = np.bincount(g, minlength=n_old).astype(np.float64)
        new_w = w[:, :, g_in, :][:, :, :, g] / count_in[g_in][None, None, :, None]
        if noise > 0 and n_new > n_old:
            new_w[..., n_old:] += rng_noise.normal(0.0, noise * w.std(), new_w[..., n_old:].shape)
        dc.set_weights([new_w.astype(np.float32)])
        base = sc.name[: -len("_conv")]
        bn_w = src.get_layer(f"{base}_bn").get_weights()  # gamma, beta, moving mean, moving var
        dst.get_layer(f"{base}_bn").set_weights([np.asarray(v)[g] for v in bn_w])
        maps[base] = g.tolist()
        g_in, count_in = g, count
    kernel, bias = src.get_layer("logits").get_weights()
    dst.get_layer("logits").set_weights(
        [(kernel[g_in] / count_in[g_in][:, None]).astype(np.float32), bias]
    )
    return maps


def compare(a: keras.Model, b: keras.Model, x: np.ndarray) -> dict[str, float]:
    """Max abs difference of the softmax outputs and argmax agreement on ``x`` (inference)."""
    pa = a.predict(x, batch_size=256, verbose=0)
    pb = b.predict(x, batch_size=256, verbose=0)
    return {
        "faces": len(x),
        "max_abs_diff": float(np.abs(pa - pb).max()),
        "argmax_agreement": float((pa.argmax(1) == pb.argmax(1)).mean()),
    }


def widen(
    src: keras.Model,
    dst: keras.Model,
    *,
    seed: int,
    noise: float,
    x_check: np.ndarray,
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Widen ``src`` into ``dst`` and check it: exact copy first (must match ``src`` within
    ``tolerance``, else SystemExit), then the same channel maps with ``noise``. Returns the
    numbers of both checks."""
    exact = net2wider(src, dst, seed, 0.0)
    before = compare(src, dst, x_check)
    if before["max_abs_diff"] > tolerance:
        raise SystemExit(f"widening is not function-preserving: {before} (tolerance {tolerance})")
    noisy = net2wider(src, dst, seed, noise)
    if noisy != exact:
        raise SystemExit("widening: channel maps differ between the two passes")
    after = compare(src, dst, x_check)
    return {
        "source_params": int(src.count_params()),
        "params": int(dst.count_params()),
        "seed": seed,
        "noise": noise,
        "tolerance": tolerance,
        "before_noise": before,
        "after_noise": after,
        "new_channels_per_layer": {k: len(v) - len(set(v)) for k, v in exact.items()},
    }


def main(argv: list[str] | None = None) -> int:
    from common import DEFAULT_FERPLUS_DIR, REPO_ROOT, load_ferplus, preprocess
    from train import build_model

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--widen-from", type=Path, default=REPO_ROOT / "models" / "edge_ferplus_cnn_int8.tflite"
    )
    p.add_argument("--channels", default="16,32,64,256")
    p.add_argument("--depths", default="2,2,2,2")
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--faces", type=int, default=500)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    depths = tuple(int(v) for v in a.depths.split(","))
    va = load_ferplus(DEFAULT_FERPLUS_DIR / "valid.npz")
    x = preprocess(va["images"][: a.faces])
    tr = load_ferplus(DEFAULT_FERPLUS_DIR / "train.npz")["images"]
    src = source_model(a.widen_from, depths, preprocess(tr[:: len(tr) // 2000]))
    dst = build_model(tuple(int(v) for v in a.channels.split(",")), depths)
    res = widen(src, dst, seed=a.seed, noise=a.noise, x_check=x, tolerance=a.tolerance)
    res["command"] = " ".join(["python", *sys.argv])
    print(json.dumps(res, indent=1))
    if a.json is not None:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
