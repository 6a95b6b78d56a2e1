"""The peer: the fer package's own pipeline (OpenCV Haar cascade + its Keras classifier) on the
same clip, timed like ``edge bench`` (unpaced, after warm-up frames, decode included).

It runs in its own virtual environment, never in the project's (TensorFlow 2.15 needs
numpy < 2)::

    python3 -m venv /tmp/fer-peer && /tmp/fer-peer/bin/pip install 'fer==25.10.3' \\
        'tensorflow-cpu==2.15.1' 'numpy<2' 'opencv-python-headless<4.12' pillow
    /tmp/fer-peer/bin/python scripts/fer_peer.py edge/data/sample.mp4 --frames 100 --json

Prints frames/s, CPU s per frame (all threads), faces per frame and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="time the fer package's pipeline on a clip")
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import cv2
    from fer.fer import FER

    detector = FER(mtcnn=False)
    capture = cv2.VideoCapture(args.clip)

    def frame() -> object:
        ok, bgr = capture.read()
        if not ok:  # replay the clip as often as needed, as edge bench does
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = capture.read()
        return bgr

    for _ in range(args.warmup):
        detector.detect_emotions(frame())
    load_before = os.getloadavg()
    faces = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.frames):
        faces += len(detector.detect_emotions(frame()))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    result = {
        "peer": "fer 25.10.3 (Haar cascade + fer's classifier, mtcnn=False)",
        "clip": args.clip,
        "frames": args.frames,
        "fps": round(args.frames / wall, 2),
        "cpu_s_per_frame": round(cpu / args.frames, 5),
        "faces_per_frame": round(faces / args.frames, 3),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
