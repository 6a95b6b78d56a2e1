"""Bare LiteRT invoke time of manifest classifiers, one thread, on random int8 input.

Usage: python scripts/classifier_latency.py [ID ...] [--invokes N] [--warmup N] [--threads N]
(default: every classifier in models/manifest.toml). Prints mean, median and p95 ms per invoke.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge.inference.models import bundled_models_dir, load_model, read_manifest
from edge.inference.runtime import as_int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ids", nargs="*", help="classifier ids (default: all in the manifest)")
    parser.add_argument("--invokes", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    specs = read_manifest(bundled_models_dir())
    ids = args.ids or [k for k, s in specs.items() if s.kind == "classifier"]
    for model_id in ids:
        spec = specs[model_id]
        interp = load_model(spec, args.threads)
        inp = interp.get_input_details()[0]
        index = as_int(inp["index"])
        x = np.random.default_rng(0).integers(-128, 128, size=inp["shape"]).astype(inp["dtype"])
        for _ in range(args.warmup):
            interp.set_tensor(index, x)
            interp.invoke()
        ms = np.empty(args.invokes)
        for i in range(args.invokes):
            t0 = time.perf_counter()
            interp.set_tensor(index, x)
            interp.invoke()
            ms[i] = (time.perf_counter() - t0) * 1000.0
        print(
            f"{spec.short_id}: mean {ms.mean():.3f} median {np.median(ms):.3f} "
            f"p95 {np.percentile(ms, 95):.3f} ms ({args.invokes} invokes, {args.threads} thread(s))"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
