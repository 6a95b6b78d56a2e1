"""The measurements of docs/benchmarks.md (issue 13) in one session: clips of 1, 3, 10 and 27
faces built from ``../shared/data/scenes`` into a temporary folder, ``edge bench`` on each with
the default schedule and with every face classified on every frame, and the fer package's
pipeline as the peer on the 3-face clip (``scripts/fer_peer.py`` in its own venv).

    python scripts/side_by_side.py --peer-python /tmp/fer-peer/bin/python --frames 300

Prints one Markdown table; each row carries the load average before and after it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIPS = (("one", 1), ("three", 3), ("ten", 10), ("crowd", 27))
EVERY_FRAME = "classifier:\n  interval_s: 0\ndetector:\n  fps: null\n"


def bench(clip: Path, frames: int, config: Path | None, *extra: str) -> dict[str, Any]:
    args = [sys.executable, "-m", "edge", "bench", "--json", "--source", f"file:{clip}"]
    args += ["--frames", str(frames), *extra]
    if config is not None:
        args += ["--config", str(config)]
    res = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(res.stdout)
    return result


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--peer-python", help="python of the fer venv (skip the peer if unset)")
    parser.add_argument("--peer-frames", type=int, default=60)
    parser.add_argument("--realtime-frames", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edge-clips-") as tmp:
        folder = Path(tmp)
        every = folder / "every.yaml"
        every.write_text(EVERY_FRAME)
        print("| faces | clip | config | frames/s | frame p50 ms | CPU s per s of video | "
              "CPU s per s paced | faces per frame | classified per frame | load before/after |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for preset, faces in CLIPS:
            clip = folder / f"{preset}.mp4"
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_crowd.py"), str(clip),
                            "--preset", preset], check=True, capture_output=True)  # fmt: skip
            for name, config in (("default", None), ("every frame", every)):
                before = load()
                r = bench(clip, args.frames, config)
                paced = bench(clip, args.realtime_frames, config, "--realtime")
                print(f"| {faces} | {preset} | {name} | {r['fps']} | "
                      f"{r['stages']['frame']['p50_ms']} | {r['cpu_s_per_video_s']} | "
                      f"{paced['realtime']['cpu_s_per_s']} | {r['faces_per_frame']} | "
                      f"{r['classified_per_frame']} | {before}/{load()} |", flush=True)  # fmt: skip
            if preset == "three" and args.peer_python:
                before = load()
                res = subprocess.run([args.peer_python, str(ROOT / "scripts" / "fer_peer.py"),
                                      str(clip), "--frames", str(args.peer_frames), "--json"],
                                     capture_output=True, text=True, check=True)  # fmt: skip
                peer = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"| {faces} | {preset} | **fer peer** | {peer['fps']} | - | "
                      f"{round(peer['cpu_s_per_frame'] * 10, 4)} | - | "
                      f"{peer['faces_per_frame']} | {peer['faces_per_frame']} | "
                      f"{before}/{load()} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
