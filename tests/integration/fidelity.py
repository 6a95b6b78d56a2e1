"""Run the real pipeline over a clip in video time and collect its windows (no threads, no
wall clock): what the fidelity tests compare and ``scripts`` measure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config import Config
from edge.inference.analyzer import FaceAnalyzer
from edge.pipeline import Pipeline
from edge.types import EXPRESSIONS, CameraStatus, Frame, Window

#: Video time 0 maps to this UNIX time: a multiple of every window length used.
EPOCH_S = 1_800_000_000.0


@dataclass
class VideoClock:
    """Wall and monotonic time = the current frame's video time (plus :data:`EPOCH_S`)."""

    t_s: float = 0.0

    def monotonic(self) -> float:
        return self.t_s

    def wall(self) -> float:
        return EPOCH_S + self.t_s


@dataclass
class ClipReader:
    """Every frame of a video file in order, timed at its index / the file's frame rate."""

    path: Path
    clock: VideoClock
    index: int = 0
    ended: bool = False

    def __post_init__(self) -> None:
        self._cap = cv2.VideoCapture(str(self.path))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 10.0)

    def read(self, timeout_s: float) -> Frame | None:
        del timeout_s
        ok, bgr = self._cap.read()
        if not ok:
            self.ended = True
            return None
        self.clock.t_s = self.index / self.fps
        frame = Frame(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), self.clock.t_s, self.index)
        self.index += 1
        return frame

    @property
    def status(self) -> CameraStatus:
        """A file read frame by frame always delivers."""
        return CameraStatus("ok", 0.0, 0)


@dataclass
class Collected:
    windows: list[Window] = field(default_factory=list)

    def window_closed(self, window: Window) -> None:
        self.windows.append(window)


def run_windows(config: Config, clip: Path, analyzer: FaceAnalyzer | None = None) -> list[Window]:
    """Every window (the last one partial) of ``config``'s pipeline over ``clip``."""
    clock, sink = VideoClock(), Collected()
    analyzer = analyzer or FaceAnalyzer.from_config(config)
    pipeline = Pipeline.from_config(config, analyzer, sink, clock)
    reader = ClipReader(clip, clock)
    pipeline.aggregator.start(clock.wall())
    while not reader.ended:
        pipeline.step(reader)
    pipeline.finish()
    return sink.windows


def config_with(**sections: dict[str, Any]) -> Config:
    """The default config with some keys of some sections replaced (min_faces 1: no
    suppression, so every window carries shares)."""
    doc = Config().model_dump()
    doc["privacy"]["min_faces"] = 1
    for name, values in sections.items():
        doc[name].update(values)
    return Config.model_validate(doc)


def l1(a: Window, b: Window) -> float:
    """L1 distance of two windows' expression shares."""
    assert a.expressions is not None and b.expressions is not None
    return sum(abs(a.expressions[k] - b.expressions[k]) for k in EXPRESSIONS)
