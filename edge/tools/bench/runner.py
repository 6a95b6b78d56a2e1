"""Run the real :class:`edge.app.Pipeline` on a source without pacing and time every stage.

The stage objects are the ones ``edge run`` builds (same config, same models, same code path
through :meth:`Pipeline.step`); the only difference is the frame source: frames are read in
this thread straight from the capture, as fast as it decodes them, instead of from the paced
capture thread. Each stage method is wrapped on its instance with a timer:

- ``capture``: one ``Capture.read`` (decode + BGR->RGB), per frame
- ``detect``: ``FaceDetector.detect`` (letterbox, LUT, invoke(s), decode, NMS), per frame
- ``align``: ``ExpressionClassifier.align`` (eye-line warp into the crop), per face
- ``classify``: ``ExpressionClassifier.classify_crop`` (LUT, invoke, dequantize), per face
- ``track``: ``Tracker.update``; ``aggregate``: ``Aggregator.observe``, per frame
- ``publish``: numbering, encoding and sending one closed window
  (``WindowPublisher.window_closed``), per window
- ``frame``: the whole ``Pipeline.step``; ``glue``: ``frame`` minus the timed stages in it
  (grey conversion, privacy filter, Python between the stages)

After each frame the bare invoke of each model is timed once on the input that frame left in
the model's input buffer (``invoke_only``), so model time and pipeline time share frames and
load. ``overhead_ratio`` is the median over frames of
``frame / (detector invoke x invocations_per_frame + faces x classifier invoke x
classifier_invokes_per_face)`` (2 invokes per face with ``classifier.flip_tta``).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.app import Pipeline, SystemClock, model_ids
from edge.camera import Capture, CaptureError, open_capture
from edge.config import Config, device_id
from edge.config.source import redact_secrets
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.runtime import runtime_name
from edge.publish.message import OutboundMessage
from edge.publish.topics import Topics
from edge.publish.window import Transport, WindowPublisher
from edge.types import CameraStatus, Frame

_DELIVERING = CameraStatus("ok", 0.0, 0)

#: Timed stages in pipeline order, with what one sample covers.
STAGES: dict[str, str] = {
    "capture": "frame",
    "detect": "frame",
    "align": "face",
    "classify": "face",
    "track": "frame",
    "aggregate": "frame",
    "publish": "window",
    "glue": "frame",
    "frame": "frame",
}
_INNER = ("detect", "align", "classify", "track", "aggregate", "publish")


@dataclass
class StageClock:
    """Timers wrapped around stage methods. A timed call only appends ``(stage, seconds)`` to
    :attr:`events` (well under a microsecond); :meth:`end_frame` turns them into samples."""

    enabled: bool = False
    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    events: list[tuple[str, float]] = field(default_factory=list)
    in_frame: dict[str, float] = field(default_factory=dict)

    def wrap(self, obj: object, method: str, stage: str) -> None:
        """Replace ``obj.method`` (on the instance only) with a timed call-through."""
        inner: Callable[..., Any] = getattr(obj, method)
        record = self.events.append
        perf = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = perf()
            result = inner(*args, **kwargs)
            record((stage, perf() - t0))
            return result

        setattr(obj, method, timed)

    @property
    def faces_in_frame(self) -> int:
        return sum(1 for stage, _ in self.events if stage == "classify")

    def end_frame(self) -> None:
        """Move this frame's events into the samples (while enabled) and per-stage sums."""
        self.in_frame.clear()
        for stage, seconds in self.events:
            ms = seconds * 1000.0
            self.in_frame[stage] = self.in_frame.get(stage, 0.0) + ms
            if self.enabled:
                self.samples[stage].append(ms)
        self.events.clear()


class _UnpacedReader:
    """Frames straight from a capture, reopened at the end of a file (``FrameReader``)."""

    def __init__(self, config: Config, clock: StageClock) -> None:
        self._config = config
        self._clock = clock
        self._capture: Capture = open_capture(config.camera)
        self._index = 0
        self.pending: Frame | None = None

    def grab(self) -> None:
        """Read the next frame (timed as ``capture``) and hold it for :meth:`read`."""
        t0 = time.perf_counter()
        image = self._capture.read()
        if image is None:  # end of a file or folder: start it again
            self._capture.close()
            self._capture = open_capture(self._config.camera)
            image = self._capture.read()
            if image is None:
                raise CaptureError(
                    f"{redact_secrets(self._config.camera.source)} delivered no frame"
                )
        self._clock.events.append(("capture", time.perf_counter() - t0))
        self.pending = Frame(image=image, t_s=time.monotonic(), index=self._index)
        self._index += 1

    def read(self, timeout_s: float) -> Frame | None:
        frame, self.pending = self.pending, None
        return frame

    @property
    def status(self) -> CameraStatus:
        """A bench reads a file it reopened itself: the camera is always delivering."""
        return _DELIVERING

    def close(self) -> None:
        self._capture.close()


class _Counter:
    """In-memory window sequence numbers (a bench persists nothing)."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last += 1
        return self.last


@dataclass
class _Totals:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    ratios: list[float] = field(default_factory=list)
    det_invoke: list[float] = field(default_factory=list)
    cls_invoke: list[float] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)


def build_pipeline(config: Config, sinks: list[Transport], clock: StageClock) -> Pipeline:
    """The pipeline ``edge run`` would build, with timers on each stage method."""
    analyzer = FaceAnalyzer.from_config(config)
    publisher = WindowPublisher(
        _Counter(),
        sinks,
        topics=Topics(config.mqtt.topic_prefix, device_id(config.device)),
        models=model_ids(analyzer),
        qos=config.mqtt.qos,
    )
    pipeline = Pipeline.from_config(config, analyzer, publisher, SystemClock())
    clock.wrap(analyzer.detector, "detect", "detect")
    clock.wrap(analyzer.classifier, "align", "align")
    clock.wrap(analyzer.classifier, "classify_crop", "classify")
    clock.wrap(pipeline.tracker, "update", "track")
    clock.wrap(pipeline.aggregator, "observe", "aggregate")
    clock.wrap(publisher, "window_closed", "publish")
    return pipeline


def _one_frame(pipeline: Pipeline, reader: _UnpacedReader, clock: StageClock, t: _Totals) -> None:
    clock.events.clear()
    w0, c0 = time.perf_counter(), time.process_time()
    reader.grab()
    w1 = time.perf_counter()
    pipeline.step(reader)
    w2, c2 = time.perf_counter(), time.process_time()
    detector, classifier = pipeline.analyzer.detector, pipeline.analyzer.classifier
    faces = clock.faces_in_frame
    d0 = time.perf_counter()
    detector.invoke_only()
    d1 = time.perf_counter()
    if faces:
        classifier.invoke_only()
    d2 = time.perf_counter()
    clock.end_frame()
    if not clock.enabled:
        return
    frame_ms = (w2 - w1) * 1000.0
    clock.samples["frame"].append(frame_ms)
    clock.samples["glue"].append(frame_ms - sum(clock.in_frame.get(s, 0.0) for s in _INNER))
    t.wall_s += w2 - w0
    t.cpu_s += c2 - c0
    det_ms, cls_ms = (d1 - d0) * 1000.0, (d2 - d1) * 1000.0
    t.det_invoke.append(det_ms)
    t.faces.append(faces)
    if faces:
        t.cls_invoke.append(cls_ms)
    model_ms = (
        det_ms * detector.invocations_per_frame + faces * cls_ms * classifier.invokes_per_face
    )
    t.ratios.append(frame_ms / model_ms)


def run_bench(
    config: Config, *, frames: int, warmup: int, sinks: list[Transport]
) -> dict[str, Any]:
    """Warm up, then time ``frames`` frames; the result is the ``edge bench --json`` document."""
    clock = StageClock()
    pipeline = build_pipeline(config, sinks, clock)
    reader = _UnpacedReader(config, clock)
    totals = _Totals()
    load_before = os.getloadavg()
    try:
        pipeline.aggregator.start(time.time())
        for i in range(warmup + frames):
            clock.enabled = i >= warmup
            _one_frame(pipeline, reader, clock, totals)
        clock.enabled = False
    finally:
        reader.close()
    return _result(config, pipeline, clock, totals, frames=frames, load_before=load_before)


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "mean_ms": round(float(arr.mean()), 3),
    }


def _result(
    config: Config,
    pipeline: Pipeline,
    clock: StageClock,
    t: _Totals,
    *,
    frames: int,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    detector, classifier = pipeline.analyzer.detector, pipeline.analyzer.classifier
    det, cls = _stats(t.det_invoke), _stats(t.cls_invoke)
    faces = float(np.mean(t.faces)) if t.faces else 0.0
    model_ms = (det["mean_ms"] or 0.0) * detector.invocations_per_frame + faces * (
        cls["mean_ms"] or 0.0
    ) * classifier.invokes_per_face
    frame_mean = _stats(clock.samples["frame"])["mean_ms"] or 0.0
    return {
        "source": redact_secrets(config.camera.source),
        "frames": frames,
        "fps": round(frames / t.wall_s, 2) if t.wall_s else None,
        "cpu_s_per_frame": round(t.cpu_s / frames, 5) if frames else None,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "faces_per_frame": round(faces, 3),
        "windows": pipeline.windows,
        "stages": {
            name: {"per": per, **_stats(clock.samples[name])} for name, per in STAGES.items()
        },
        "invoke": {"detector": det, "classifier": cls},
        "invocations_per_frame": detector.invocations_per_frame,
        "classifier_invokes_per_face": classifier.invokes_per_face,
        "model_ms_per_frame": round(model_ms, 3),
        "overhead_ratio": round(float(np.median(t.ratios)), 3) if t.ratios else None,
        "overhead_ratio_of_means": round(frame_mean / model_ms, 3) if model_ms else None,
        "models": {"detector": detector.spec.short_id, "classifier": classifier.spec.short_id},
        "threads": {"detector": config.detector.threads, "classifier": config.classifier.threads},
        "machine": _machine(load_before),
    }


def _machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115
            if line.startswith(("model name", "Model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "runtime": runtime_name(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


class NullSink:
    """Drops window messages (they were encoded already, which ``publish`` times)."""

    def send(self, message: OutboundMessage) -> None:
        del message
