"""How to batch the classifier with LiteRT: resize the input to exactly N rows when N changes,
or keep a fixed batch and pad. Prints, per N, the median ms of a resize + allocate + first
invoke coming from another size (the arena grown once), of one exact-N invoke at a steady
size, of one invoke of the fixed batch, and of N one-face-at-a-time invokes (set_tensor +
invoke + get_tensor each).

Usage: python scripts/classifier_batching.py [--model ID] [--fixed 32] [--reps 30]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from edge.inference.models import bundled_models_dir, load_model, read_manifest
from edge.inference.runtime import as_int

SIZES = (1, 2, 4, 6, 8, 12, 16, 24, 32)


def _median_ms(run: object, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="edge_fer_cnn_int8")
    parser.add_argument("--fixed", type=int, default=32)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args(argv)
    spec = read_manifest(bundled_models_dir())[args.model]
    interp = load_model(spec, 1)
    index = as_int(interp.get_input_details()[0]["index"])
    out = as_int(interp.get_output_details()[0]["index"])
    size = spec.input_shape[1]
    rng = np.random.default_rng(0)
    data = rng.integers(-128, 128, size=(args.fixed, size, size, 1)).astype(np.int8)
    interp.resize_tensor_input(index, [args.fixed, size, size, 1])
    interp.allocate_tensors()  # grow the arena once, as a long-running pipeline has

    def resize(rows: int) -> None:
        interp.resize_tensor_input(index, [rows, size, size, 1])
        interp.allocate_tensors()

    def invoke(rows: int) -> None:
        interp.set_tensor(index, data[:rows])
        interp.invoke()
        interp.get_tensor(out)

    print(f"load average {os.getloadavg()[0]:.2f}, {args.model}, 1 thread")
    print("| N | resize + first invoke ms | exact-N invoke ms | fixed", args.fixed,
          "(padded) invoke ms | N single invokes ms |")  # fmt: skip
    print("|---|---|---|---|---|")
    for rows in SIZES:
        changes = []
        for _ in range(args.reps):  # from another size, as when the number of due faces changes
            other = rows + 1 if rows < args.fixed else rows - 1
            resize(other)
            invoke(other)
            t0 = time.perf_counter()
            resize(rows)
            invoke(rows)  # the first invoke after a resize re-plans the delegate: counted here
            changes.append((time.perf_counter() - t0) * 1000.0)
        resize_ms = float(np.median(changes))
        resize(rows)
        invoke(rows)
        exact = _median_ms(lambda r=rows: invoke(r), args.reps)
        resize(args.fixed)
        invoke(args.fixed)
        fixed = _median_ms(lambda: invoke(args.fixed), args.reps)
        resize(1)
        invoke(1)
        single = _median_ms(lambda: invoke(1), args.reps * 4) * rows
        print(f"| {rows} | {resize_ms:.3f} | {exact:.2f} | {fixed:.2f} | {single:.2f} |")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
