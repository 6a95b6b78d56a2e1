"""Cost of the per-face quality temperature (issue 21): ms per face through ``classify_crop``
(flip TTA, one thread) with the manifest's ``temperature_quality_flip`` and with the scalar
``temperature_flip`` only, interleaved, on the first N faces of ``ferplus/valid.npz``.

Usage: python scripts/quality_cost.py [--model ID] [--faces 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from edge.config import Config
from edge.inference.classifier import ExpressionClassifier
from edge.inference.models import bundled_models_dir, get_spec


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=Config().classifier.model)
    p.add_argument("--data", default="../shared/data/ferplus/valid.npz")
    p.add_argument("--faces", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    spec = get_spec(bundled_models_dir(), a.model, "classifier")
    scalar = dataclasses.replace(spec, temperature_quality=None, temperature_quality_flip=None)
    with np.load(a.data) as data:
        faces = data["images"][: a.faces]
    for r in range(a.rounds):
        for name, s in (("quality", spec), ("scalar", scalar)):
            clf = ExpressionClassifier(s, threads=1, margin=0.0, flip_tta=True)
            for face in faces[:100]:
                clf.classify_crop(face)
            t0 = time.perf_counter()
            for face in faces:
                clf.classify_crop(face)
            ms = (time.perf_counter() - t0) / len(faces) * 1000
            print(f"round {r + 1} {name}: {ms:.4f} ms per face")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
