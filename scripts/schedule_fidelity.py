"""Windows of scheduled configs against the every-frame pipeline on one clip (the table in
docs/benchmarks.md that chose classifier.interval_s and detector.fps).

Usage: python scripts/schedule_fidelity.py CLIP WINDOW_S [INTERVAL_S,DETECTOR_FPS ...]
e.g.   python scripts/schedule_fidelity.py /tmp/crowd.mp4 4 0.5,5 1,5 1,none

Prints, per config, process CPU seconds for the clip, faces and mean_faces_present per window,
and the L1 distance of each window's shares to the every-frame pipeline's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.fidelity import config_with, l1, run_windows


def main(argv: list[str]) -> int:
    clip, window_s = Path(argv[0]), float(argv[1])
    variants: list[tuple[str, dict[str, Any]]] = [
        ("every frame", {"classifier": {"interval_s": 0.0}, "detector": {"fps": None}})
    ]
    for spec in argv[2:]:
        interval, fps = spec.split(",")
        detector_fps = None if fps == "none" else float(fps)
        classifier = {"interval_s": float(interval)}
        variants.append((spec, {"classifier": classifier, "detector": {"fps": detector_fps}}))
    reference = None
    for name, sections in variants:
        t0 = time.process_time()
        windows = run_windows(config_with(aggregation={"window_s": window_s}, **sections), clip)
        cpu = time.process_time() - t0
        reference = reference or windows
        distances = [round(l1(a, b), 4) for a, b in zip(reference, windows, strict=True)]
        print(
            f"{name}: cpu {cpu:.1f} s, faces {[w.faces for w in windows]}, present "
            f"{[round(w.mean_faces_present, 2) for w in windows]}, L1 {distances}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
