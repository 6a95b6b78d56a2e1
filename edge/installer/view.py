"""The setup view's work: a low-rate loop that reads the camera, runs the detector on the frame
as the pipeline sees it (masks blacked out), and keeps the newest picture in memory only; and
the HTTP handlers of the page (state JSON, the JPEG, save).

The camera, the models and the privacy filter come from the service's own builders
(:func:`edge.camera.open_source`, :meth:`FaceAnalyzer.from_config`, :class:`PrivacyFilter`). No
frame is written to disk: the JPEG is encoded in memory for each request and faces are blurred
in it unless the installer asks to see them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.camera.base import LatestFrameSource
from edge.config import Config, ConfigError
from edge.config.loader import load_document
from edge.inference.analyzer import FaceAnalyzer
from edge.installer.geometry import parse_polygons, region_normalised
from edge.installer.yamledit import save_regions
from edge.privacy.filter import PrivacyFilter
from edge.types import ImageArray
from edge.web import HttpError, Request, Response, Router, json_response

log = logging.getLogger(__name__)

#: Shorter side of a face, in pixels of the detector's 192 px input, from which BlazeFace
#: full-range found >= 90 % of the annotated faces in every larger size bin
#: (scripts/detector_min_face.py ../shared/data/scenes: 34/37 at 10-12 px, 6/49 at 6-8 px).
RELIABLE_INPUT_PX = 10
#: Longest side of the JPEG sent to the browser (enough to aim; small on a phone).
MAX_JPEG_SIDE = 960
#: Pictures per second analysed for the view.
VIEW_FPS = 2.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The newest analysed picture (in memory only) and what the pipeline made of it."""

    image: ImageArray
    seq: int
    t_s: float
    faces: tuple[dict[str, object], ...]


def reliable_face_px(analyzer: FaceAnalyzer, width: int, height: int) -> int:
    """The smallest face (shorter side, frame pixels) the detector finds reliably at this
    frame size with its tiling: RELIABLE_INPUT_PX scaled by the smallest region it runs on."""
    detector = analyzer.detector
    side = detector.spec.input_shape[1]
    regions = detector.regions_for(width, height)
    smallest = min(max(r.x1 - r.x0, r.y1 - r.y0) for r in regions)
    return int(np.ceil(RELIABLE_INPUT_PX * smallest / side))


class SetupView:
    """Reads the camera at :data:`VIEW_FPS`, detects faces, serves the page's API."""

    def __init__(
        self,
        config: Config,
        config_path: Path,
        analyzer: FaceAnalyzer,
        source: LatestFrameSource,
        *,
        env: Mapping[str, str],
        deadline: float,
    ) -> None:
        self._config = config
        self._path = config_path
        self._analyzer = analyzer
        self._source = source
        self._env = env
        self._deadline = deadline
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._privacy = PrivacyFilter(config.privacy)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="setup-view", daemon=True)

    def __enter__(self) -> SetupView:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def routes(self, router: Router) -> None:
        router.add("GET", "/", lambda _r: _static_page())
        router.add("GET", "/api/state", self.state)
        router.add("GET", "/api/frame.jpg", self.frame)
        router.add("POST", "/api/save", self.save)
        router.static("/static/", "edge.installer", "static")

    # ------------------------------------------------------------------ the camera loop

    def _loop(self) -> None:
        seq = 0
        while not self._stop.is_set():
            started = time.monotonic()
            frame = self._source.read(timeout_s=1.0)
            if frame is not None:
                seq += 1
                self._analyse(frame.image, seq, frame.t_s)
            self._stop.wait(max(0.0, 1.0 / VIEW_FPS - (time.monotonic() - started)))

    def _analyse(self, image: ImageArray, seq: int, t_s: float) -> None:
        with self._lock:
            privacy = self._privacy
        seen = privacy.prepare(image.copy())  # what the pipeline sees: masks blacked out
        faces = []
        for det in self._analyzer.detect(seen):
            box = det.box
            side = min(box.width, box.height)
            too_small = side < self._config.privacy.min_face_px
            faces.append({
                "box": [box.x0, box.y0, box.x1, box.y1],
                "px": round(side),
                "score": round(det.score, 2),
                "counted": privacy.admits(det),
                "reason": "smaller than min_face_px" if too_small else (
                    "outside the region of interest" if not privacy.admits(det) else ""),
            })
        with self._lock:
            self._snapshot = Snapshot(image, seq, t_s, tuple(faces))

    # ------------------------------------------------------------------ handlers

    def state(self, _request: Request) -> Response:
        with self._lock:
            snap, config = self._snapshot, self._config
        document: dict[str, object] = {
            "config": str(self._path),
            "remaining_s": round(max(0.0, self._deadline - time.monotonic()), 1),
            "camera": self._source.status.state,
            "min_face_px": config.privacy.min_face_px,
            "frame": None,
        }
        if snap is not None:
            height, width = snap.image.shape[:2]
            privacy = config.privacy
            document.update(
                frame={"width": width, "height": height, "seq": snap.seq},
                faces=list(snap.faces),
                reliable_face_px=reliable_face_px(self._analyzer, width, height),
                masks=[region_normalised(m, width, height) for m in privacy.masks],
                roi=region_normalised(privacy.roi, width, height) if privacy.roi else None,
            )
        return json_response(document)

    def frame(self, request: Request) -> Response:
        with self._lock:
            snap = self._snapshot
        if snap is None:
            raise HttpError(503, "no picture from the camera yet")
        image: ImageArray = snap.image.copy()
        if request.query.get("blur", "1") != "0":
            for face in snap.faces:
                _blur(image, face["box"])  # type: ignore[arg-type]
        height, width = image.shape[:2]
        scale = min(1.0, MAX_JPEG_SIDE / max(width, height))
        if scale < 1.0:
            small = cv2.resize(image, (round(width * scale), round(height * scale)),
                               interpolation=cv2.INTER_AREA)
            image = np.asarray(small, dtype=np.uint8)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 75])
        if not ok:
            raise HttpError(500, "the picture could not be encoded")
        return Response(200, jpeg.tobytes(), "image/jpeg", (("Cache-Control", "no-store"),))

    def save(self, request: Request) -> Response:
        try:
            masks, roi = parse_polygons(request.json())
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        try:
            save_regions(self._path, masks, roi, self._env)
        except ConfigError as exc:
            raise HttpError(400, exc.render()) from None
        except OSError as exc:
            raise HttpError(500, f"cannot write {self._path}: {exc.strerror}") from None
        config = load_document(self._path).config
        with self._lock:
            self._config = config
            self._privacy = PrivacyFilter(config.privacy)
        log.info("setup view: saved %d mask(s) and %s to %s", len(masks),
                 "a region of interest" if roi else "no region of interest", self._path)
        return json_response({"saved": str(self._path), "masks": len(masks),
                              "roi": roi is not None})


def _blur(image: ImageArray, box: list[float]) -> None:
    """Pixelate a face (with a margin) in place, so it cannot be recognised in the view."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    margin = 0.2 * max(x1 - x0, y1 - y0)
    left, top = max(0, int(x0 - margin)), max(0, int(y0 - margin))
    right, bottom = min(width, int(x1 + margin) + 1), min(height, int(y1 + margin) + 1)
    if right - left < 2 or bottom - top < 2:
        return
    patch = image[top:bottom, left:right]
    small = cv2.resize(patch, (max(1, (right - left) // 12), max(1, (bottom - top) // 12)),
                       interpolation=cv2.INTER_AREA)
    image[top:bottom, left:right] = cv2.resize(small, (right - left, bottom - top),
                                               interpolation=cv2.INTER_NEAREST)


def _static_page() -> Response:
    from edge.web.server import static_file

    return static_file("edge.installer", "static", "index.html")
