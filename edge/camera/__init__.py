"""Camera stage: one source kind per module behind :class:`LatestFrameSource`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.camera.base import Capture, CaptureError, LatestFrameSource
from edge.config import CameraConfig
from edge.config.source import SourceSpec, parse_source
from edge.types import AnalysisGate, Liveness

__all__ = [
    "Capture",
    "CaptureError",
    "LatestFrameSource",
    "open_capture",
    "open_source",
    "parse_source",
]


def _opener(spec: SourceSpec, cfg: CameraConfig) -> tuple[Callable[[], Capture], float | None]:
    """A zero-argument capture factory and the pace (fps) for file sources."""
    if spec.kind == "picamera2":

        def open_picamera2() -> Capture:
            from edge.camera.picam import Picamera2Capture

            return Picamera2Capture(
                width=cfg.width, height=cfg.height, fps=cfg.fps, timeout_s=cfg.read_timeout_s
            )

        return open_picamera2, None
    from edge.camera.opencv import ImageFolderCapture, OpenCvCapture

    if spec.kind == "file":
        path = Path(spec.target)
        if path.is_dir():

            def open_folder() -> Capture:
                return ImageFolderCapture(path)

            return open_folder, cfg.fps
        if not path.exists():
            raise CaptureError(f"camera.source: file {path} does not exist")
        probe = OpenCvCapture(
            spec, width=cfg.width, height=cfg.height, fps=cfg.fps, timeout_s=cfg.read_timeout_s
        )
        fps = probe.file_fps or cfg.fps
        probe.close()
    else:
        fps = None

    def open_cv() -> Capture:
        return OpenCvCapture(
            spec, width=cfg.width, height=cfg.height, fps=cfg.fps, timeout_s=cfg.read_timeout_s
        )

    if spec.kind == "v4l2":  # OpenCV's V4L2 backend keeps no open/read timeout of its own

        def open_v4l2() -> Capture:
            from edge.camera.deadline import DeadlineCapture

            return DeadlineCapture(open_cv, timeout_s=cfg.read_timeout_s, name=spec.redacted())

        return open_v4l2, fps
    return open_cv, fps


def open_capture(cfg: CameraConfig, spec: SourceSpec | None = None) -> Capture:
    """The bare capture for ``cfg.source`` (``spec``: already parsed): no thread, no pacing,
    no reopen (``edge bench``). Frames come as fast as the source delivers them; the caller
    closes it.
    """
    opener, _pace = _opener(spec or parse_source(cfg.source), cfg)
    return opener()


def open_source(
    cfg: CameraConfig,
    liveness: Liveness | None = None,
    *,
    spec: SourceSpec | None = None,
    gate: AnalysisGate | None = None,
) -> LatestFrameSource:
    """A not-yet-started threaded source for ``cfg.source`` (use it as a context manager);
    ``spec`` is the source already parsed (by the pre-flight), its thread reports to
    ``liveness`` and closes the camera while ``gate`` (the remote pause) is off."""
    spec = spec or parse_source(cfg.source)
    opener, pace = _opener(spec, cfg)
    return LatestFrameSource(
        opener,
        name=spec.redacted(),
        reopen_initial_s=cfg.reopen_initial_s,
        reopen_max_s=cfg.reopen_max_s,
        pace_fps=pace,
        loop=cfg.loop,
        read_timeout_s=cfg.read_timeout_s,
        liveness=liveness,
        gate=gate,
    )
