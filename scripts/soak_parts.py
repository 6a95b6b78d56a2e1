"""RSS of the service's parts in isolation, faster than real time (see the Soak section of
docs/benchmarks.md): one part repeated, RSS printed every ``--every`` repetitions.

    python scripts/soak_parts.py outbox   --count 1500  --every 100   # append + ack windows
    python scripts/soak_parts.py reopen   --count 300   --every 30    # loop the sample clip
    python scripts/soak_parts.py pipeline --count 72000 --every 3600  # frames, 10 fps clock

``outbox``: the SQLite outbox (WAL, fsync) takes and acknowledges one ~700-byte window each
time. ``reopen``: ``cv2.VideoCapture`` opens the bundled clip, decodes all 120 frames and is
released, as ``camera.loop`` does every 12 s. ``pipeline``: the service's own
``Pipeline.from_config`` (privacy filter, detector, tracker, classifier, aggregation, 10 s
windows encoded to JSON) on the clip's frames, unpaced, with a clock advancing 0.1 s a frame,
so 36,000 frames are one hour of the real clip.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

CLIP = REPO_ROOT / "edge" / "data" / "sample.mp4"


def _report(label: str, i: int, extra: str = "") -> None:
    import psutil

    rss = psutil.Process().memory_info().rss // 1024
    print(f"{label} {i:6d}  rss {rss} KiB{extra}", flush=True)


def outbox(count: int, every: int) -> None:
    from edge.config.mqtt import OutboxConfig
    from edge.publish.outbox import Outbox
    from edge.publish.window import OutboundMessage

    payload = json.dumps({"schema": "edge.emotions/1", "pad": "x" * 650}).encode()
    work = Path(tempfile.mkdtemp(prefix="edge-soak-outbox-"))
    box = Outbox(work / "outbox.db", OutboxConfig())
    try:
        for i in range(1, count + 1):
            seq = box.next()
            message = OutboundMessage("edge/x/emotions", payload, 1, seq=seq, due_s=time.time())
            box.append(message, time.time())
            box.ack([row.seq for row in box.peek(seq - 1, 10)])
            if i % every == 0:
                wal = (work / "outbox.db-wal").stat().st_size // 1024
                _report("windows", i, f"  wal {wal} KiB")
    finally:
        box.close()
        shutil.rmtree(work, ignore_errors=True)


def reopen(count: int, every: int) -> None:
    import cv2

    for i in range(1, count + 1):
        cap = cv2.VideoCapture(str(CLIP), cv2.CAP_FFMPEG)
        while cap.read()[0]:
            pass
        cap.release()
        if i % every == 0:
            _report("loops", i)


def pipeline(count: int, every: int) -> None:
    import cv2
    import numpy as np

    from edge.config.loader import parse_text
    from edge.inference.analyzer import FaceAnalyzer
    from edge.pipeline import Pipeline
    from edge.publish.message import ModelIds
    from edge.publish.topics import Topics
    from edge.publish.window import window_message
    from edge.types import CameraStatus, Frame, Window

    config = parse_text(f"camera:\n  source: file:{CLIP}\naggregation:\n  window_s: 10\n")
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8))
    cap.release()

    class Clock:
        t = 1_700_000_000.0

        def monotonic(self) -> float:
            return self.t

        def wall(self) -> float:
            return self.t

    clock = Clock()
    analyzer = FaceAnalyzer.from_config(config)
    ids = ModelIds(analyzer.detector.spec.short_id, analyzer.classifier.spec.short_id)
    topics = Topics("edge", "soak")

    class Sink:
        windows = 0

        def window_closed(self, window: Window) -> None:
            self.windows += 1
            window_message(window, seq=self.windows, topics=topics, models=ids, qos=1)

    class Reader:
        index = 0
        status = CameraStatus("ok", clock.t, 0)

        def read(self, timeout_s: float) -> Frame:
            clock.t += 0.1
            frame = Frame(image=frames[self.index % len(frames)], t_s=clock.t, index=self.index)
            self.index += 1
            return frame

    sink, reader = Sink(), Reader()
    pipe = Pipeline.from_config(config, analyzer, sink, clock)
    pipe.aggregator.start(clock.wall())
    for i in range(1, count + 1):
        pipe.step(reader)
        if i % every == 0:
            _report("frames", i, f"  ({i / 36000:.2f} h of clip, {sink.windows} windows)")


PARTS: dict[str, Callable[[int, int], Any]] = {
    "outbox": outbox,
    "reopen": reopen,
    "pipeline": pipeline,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--count", type=int, default=1000, help="repetitions")
    parser.add_argument("--every", type=int, default=100, help="print RSS this often")
    args = parser.parse_args()
    if args.count < 1 or args.every < 1:
        parser.error("--count and --every must be positive")
    PARTS[args.part](args.count, args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
