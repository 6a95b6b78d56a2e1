"""Per-frame cost of the Pi camera adapter's conversion (``edge.camera.picam.I420ToRgb``:
crop the stride padding off a picamera2 YUV420 buffer, pack, convert to RGB) against the
previous path (the padded buffer converted as is, plus a full-frame grey copy).

Usage: python scripts/picam_conversion.py [--frames 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.camera.picam import I420ToRgb

SIZES = ((640, 480, 640), (640, 480, 704), (1000, 750, 1024))


def padded(width: int, height: int, stride: int) -> np.ndarray:
    """A picamera2-layout YUV420 buffer (rows ``stride`` bytes wide) of random content."""
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (height * 3 // 2, stride), dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| size | stride | now: crop + pack + I420->RGB ms | before: uncropped + grey ms |")
    print("|---|---|---|---|")
    for width, height, stride in SIZES:
        buffer = padded(width, height, stride)
        convert = I420ToRgb(width, height)
        for _ in range(50):
            convert(buffer)
        t0 = time.perf_counter()
        for _ in range(args.frames):
            convert(buffer)
        now = (time.perf_counter() - t0) / args.frames * 1000.0
        t0 = time.perf_counter()
        for _ in range(args.frames):
            rgb = cv2.cvtColor(buffer, cv2.COLOR_YUV2RGB_I420)
            cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        before = (time.perf_counter() - t0) / args.frames * 1000.0
        print(f"| {width}x{height} | {stride} | {now:.3f} | {before:.3f} |")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
