"""Run the real :class:`edge.app.Pipeline` on a source without pacing and time every stage.

The pipeline is the one ``edge run`` builds (:func:`edge.app.build_pipeline`: same config,
same models, same code path through :meth:`Pipeline.step`); the only difference is the frame
source: frames are read in this thread straight from the capture, as fast as it decodes them,
instead of from the paced capture thread. The stage times are the ones the pipeline keeps
anyway (:attr:`Pipeline.last`, the analyzer's ``detect_ms``, ``align_ms``, ``infer_ms``);
nothing is wrapped:

- ``capture``: one ``Capture.read`` (decode + BGR->RGB), per frame
- ``detect``: ``FaceDetector.detect`` (letterbox, LUT, invoke(s), decode, NMS), per frame that
  runs the detector (every frame unless ``detector.fps``)
- ``align``: ``ExpressionClassifier.crop_all`` (eye-line warps into the batch), per classified
  face (the batch's mean)
- ``classify``: ``ExpressionClassifier.infer`` (LUT, one batched invoke, dequantize), per
  classified face (the batch time divided by its faces)
- ``track``: ``Tracker.plan`` + ``commit`` (or ``coast``); ``aggregate``: ``Aggregator.observe``,
  per frame
- ``publish``: numbering, encoding and sending one closed window
  (``WindowPublisher.window_closed``), per window
- ``frame``: the whole ``Pipeline.step``; ``glue``: ``frame`` minus the timed stages in it
  (privacy filter, Python between the stages)

Frame times are video time (frame index / the source's frame rate), so the schedule
(``classifier.interval_s``, ``detector.fps``) acts as it would on the live source while frames
are processed as fast as possible; ``cpu_s_per_video_s`` is the CPU the pipeline needs per
second of video at the source's rate. With ``realtime`` frames are paced to that rate,
``cpu_s_per_s`` is measured over the wall time, and no bare invoke is timed (so the invoke
keys and ``overhead_ratio`` are empty: the CPU is the pipeline's alone).

After each frame the bare invoke of each model that ran is timed once on the input that frame
left in its input buffer (``invoke_only``), so model time and pipeline time share frames and
load; the classifier's is the whole batch, reported per face pass. ``overhead_ratio`` is the
median over frames of ``frame / (detector invoke x invocations_per_frame [if it ran] +
classifier batch invoke [if it ran])``.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.app import build_pipeline as build_pipeline_of_service
from edge.camera import Capture, CaptureError, open_capture
from edge.config import Config
from edge.config.source import SourceSpec, parse_source, redact_secrets
from edge.inference.analyzer import FaceAnalyzer
from edge.inference.runtime import runtime_name
from edge.pipeline import Pipeline, SystemClock
from edge.publish.message import OutboundMessage
from edge.publish.window import Transport
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
    """Per-stage samples, read after each frame from the timings the pipeline keeps anyway
    (:attr:`Pipeline.last`, the analyzer's ``detect_ms``/``align_ms``/``infer_ms``): nothing
    is wrapped or replaced."""

    enabled: bool = False
    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    #: this frame's milliseconds per stage (summed), for ``glue``
    in_frame: dict[str, float] = field(default_factory=dict)

    def end_frame(self, pipeline: Pipeline, capture_ms: float) -> None:
        """This frame's stage times into :attr:`in_frame` and (while enabled) the samples:
        one per frame, per classified face (align, classify) or per window (publish)."""
        step, analyzer = pipeline.last, pipeline.analyzer
        per_stage: list[tuple[str, float, int]] = [("capture", capture_ms, 1)]
        if step.detected:
            per_stage.append(("detect", analyzer.detect_ms.last, 1))
        if step.classified:
            per_stage.append(("align", analyzer.align_ms.last, step.classified))
            per_stage.append(("classify", analyzer.infer_ms.last, step.classified))
        if step.analysed:
            per_stage += [("track", step.track_ms, 1), ("aggregate", step.aggregate_ms, 1)]
        per_stage += [("publish", ms, 1) for ms in step.publish_ms]
        self.in_frame.clear()
        for stage, ms, count in per_stage:
            self.in_frame[stage] = self.in_frame.get(stage, 0.0) + ms * count
            if self.enabled:
                self.samples[stage].extend([ms] * count)


class _UnpacedReader:
    """Frames straight from a capture, reopened at the end of a file (``FrameReader``)."""

    def __init__(self, config: Config, spec: SourceSpec) -> None:
        self._config = config
        self._spec = spec
        self._capture: Capture = open_capture(config.camera, spec)
        declared = float(getattr(self._capture, "file_fps", 0.0) or 0.0)
        #: frames per second of video: a file's own rate, else camera.fps
        self.fps = declared if declared > 0 else config.camera.fps
        self._index = 0
        self.pending: Frame | None = None

    def grab(self) -> float:
        """Read the next frame and hold it for :meth:`read`; returns the ``capture`` ms."""
        t0 = time.perf_counter()
        image = self._capture.read()
        if image is None:  # end of a file or folder: start it again
            self._capture.close()
            self._capture = open_capture(self._config.camera, self._spec)
            image = self._capture.read()
            if image is None:
                raise CaptureError(
                    f"{redact_secrets(self._config.camera.source)} delivered no frame"
                )
        self.pending = Frame(image=image, t_s=self._index / self.fps, index=self._index)
        self._index += 1
        return (time.perf_counter() - t0) * 1000.0

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
    classified: list[int] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    tracked: list[int] = field(default_factory=list)


def build_pipeline(config: Config, analyzer: FaceAnalyzer, sinks: list[Transport]) -> Pipeline:
    """The pipeline ``edge run`` builds (:func:`edge.app.build_pipeline`), numbered in memory."""
    pipeline, _windows = build_pipeline_of_service(
        config, analyzer, _Counter(), sinks, SystemClock()
    )
    return pipeline


def _one_frame(
    pipeline: Pipeline, reader: _UnpacedReader, clock: StageClock, t: _Totals, *, bare: bool
) -> None:
    """One frame through the pipeline; with ``bare`` the models' bare invokes are timed after
    it (off for ``--realtime``, whose CPU per wall second must be the pipeline's alone)."""
    w0, c0 = time.perf_counter(), time.process_time()
    capture_ms = reader.grab()
    w1 = time.perf_counter()
    pipeline.step(reader)
    w2, c2 = time.perf_counter(), time.process_time()
    detector, classifier = pipeline.analyzer.detector, pipeline.analyzer.classifier
    faces, detected = pipeline.last.classified, pipeline.last.detected
    d0 = time.perf_counter()
    if detected and bare:
        detector.invoke_only()
    d1 = time.perf_counter()
    if faces and bare:
        classifier.invoke_only()
    d2 = time.perf_counter()
    clock.end_frame(pipeline, capture_ms)
    if not clock.enabled:
        return
    frame_ms = (w2 - w1) * 1000.0
    clock.samples["frame"].append(frame_ms)
    clock.samples["glue"].append(frame_ms - sum(clock.in_frame.get(s, 0.0) for s in _INNER))
    t.wall_s += w2 - w0
    t.cpu_s += c2 - c0
    det_ms, batch_ms = (d1 - d0) * 1000.0, (d2 - d1) * 1000.0
    t.detected.append(detected)
    t.classified.append(faces)
    t.tracked.append(pipeline.last.present)
    if detected and bare:
        t.det_invoke.append(det_ms)
    if faces and bare:
        t.cls_invoke.append(batch_ms / classifier.batch_rows)
    model_ms = det_ms * detector.invocations_per_frame * detected + batch_ms * (faces > 0)
    if model_ms > 0 and bare:
        t.ratios.append(frame_ms / model_ms)


def run_bench(
    config: Config,
    *,
    frames: int,
    warmup: int,
    sinks: list[Transport],
    realtime: bool = False,
    analyzer: FaceAnalyzer | None = None,
) -> dict[str, Any]:
    """Warm up, then time ``frames`` frames; the result is the ``edge bench --json`` document.
    With ``realtime`` each frame waits for its time at the source's frame rate."""
    clock = StageClock()
    pipeline = build_pipeline(config, analyzer or FaceAnalyzer.from_config(config), sinks)
    reader = _UnpacedReader(config, parse_source(config.camera.source))
    totals = _Totals()
    load_before = os.getloadavg()
    paced = (0.0, 0.0)
    start = cpu0 = 0.0
    try:
        pipeline.aggregator.start(time.time())
        for i in range(warmup + frames):
            clock.enabled = i >= warmup
            if i == warmup:
                start, cpu0 = time.perf_counter(), time.process_time()
            if realtime and i >= warmup:
                delay = start + (i - warmup) / reader.fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            _one_frame(pipeline, reader, clock, totals, bare=not realtime)
        clock.enabled = False
        paced = (time.perf_counter() - start, time.process_time() - cpu0)
        pipeline.finish()  # the open window, as `edge run` publishes it at stop (partial)
    finally:
        reader.close()
    return _result(
        config, pipeline, clock, totals, frames=frames, load_before=load_before,
        source_fps=reader.fps, paced=paced if realtime else None,
    )  # fmt: skip


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
    source_fps: float,
    paced: tuple[float, float] | None,
) -> dict[str, Any]:
    detector, classifier = pipeline.analyzer.detector, pipeline.analyzer.classifier
    det, cls = _stats(t.det_invoke), _stats(t.cls_invoke)
    classified = float(np.mean(t.classified)) if t.classified else 0.0
    detect_share = float(np.mean(t.detected)) if t.detected else 0.0
    model_ms = (det["mean_ms"] or 0.0) * detector.invocations_per_frame * detect_share + (
        classified * (cls["mean_ms"] or 0.0) * classifier.invokes_per_face
    )
    frame_mean = _stats(clock.samples["frame"])["mean_ms"] or 0.0
    cpu_per_frame = t.cpu_s / frames if frames else 0.0
    return {
        "source": redact_secrets(config.camera.source),
        "frames": frames,
        "fps": round(frames / t.wall_s, 2) if t.wall_s else None,
        "cpu_s_per_frame": round(cpu_per_frame, 5) if frames else None,
        "source_fps": round(source_fps, 3),
        "cpu_s_per_video_s": round(cpu_per_frame * source_fps, 4),
        "realtime": None
        if paced is None
        else {"wall_s": round(paced[0], 3), "cpu_s_per_s": round(paced[1] / paced[0], 4)},
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "faces_per_frame": round(float(np.mean(t.tracked)) if t.tracked else 0.0, 3),
        "classified_per_frame": round(classified, 3),
        "detect_share": round(detect_share, 3),
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
