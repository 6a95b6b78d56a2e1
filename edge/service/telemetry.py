"""Periodic health numbers on ``{prefix}/{id}/telemetry`` (schema ``edge.telemetry/1``).

Sampled from the processing loop (a tick per loop pass) every ``telemetry.interval_s``: frame rates
over the interval, detector/classifier timings, live face count, outbox depth and drops,
MQTT reconnects, uptime, version, model ids; on a Raspberry Pi also the SoC temperature
(sysfs) and throttling flags (``vcgencmd get_throttled``, bounded by a timeout). Fields that
cannot be read on this machine are left out of the message, never invented.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from edge import __version__
from edge.publish.message import ModelIds, OutboundMessage
from edge.publish.outbox import Outbox
from edge.publish.telemetry import TelemetrySample, telemetry_message
from edge.publish.topics import Topics
from edge.types import PipelineSnapshot

log = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
VCGENCMD_TIMEOUT_S = 2.0


def read_soc_temp(path: Path = THERMAL_ZONE) -> float | None:
    """SoC temperature in °C from sysfs (millidegrees), or None where there is none."""
    try:
        return int(path.read_text(encoding="ascii").strip()) / 1000.0
    except (OSError, ValueError):
        return None


def parse_throttled(output: str) -> int | None:
    """``throttled=0x50005`` -> 0x50005; None for anything else."""
    key, _, value = output.strip().partition("=")
    if key != "throttled":
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


class ThrottleReader:
    """``vcgencmd get_throttled`` when the tool exists; gives up after its first failure (e.g.
    no access to /dev/vchiq), so a broken tool costs one subprocess, not one per interval."""

    def __init__(self, exe: str | None = None) -> None:
        self._exe = exe if exe is not None else shutil.which("vcgencmd")

    def read(self) -> int | None:
        if self._exe is None:
            return None
        try:
            out = subprocess.run(
                [self._exe, "get_throttled"],
                capture_output=True,
                text=True,
                timeout=VCGENCMD_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("vcgencmd unusable (%s): throttling flags left out of telemetry", exc)
            self._exe = None
            return None
        value = parse_throttled(out.stdout) if out.returncode == 0 else None
        if value is None:
            log.info(
                "vcgencmd get_throttled failed (%s): throttling flags left out of telemetry",
                (out.stderr or out.stdout).strip()[:120] or f"exit {out.returncode}",
            )
            self._exe = None
        return value


class Telemetry:
    """Builds and publishes one telemetry message per interval from the loop's ``on_tick``."""

    def __init__(
        self,
        *,
        interval_s: float,
        topics: Topics,
        models: ModelIds,
        outbox: Outbox,
        publish: Callable[[OutboundMessage], None],
        snapshot: Callable[[], PipelineSnapshot],
        reconnects: Callable[[], int],
        analysis: Callable[[], bool],
        throttle: ThrottleReader | None = None,
        soc_temp: Callable[[], float | None] = read_soc_temp,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._interval_s = interval_s
        self._topics = topics
        self._models = models
        self._outbox = outbox
        self._publish = publish
        self._snapshot = snapshot
        self._reconnects = reconnects
        self._analysis = analysis
        self._throttle = throttle or ThrottleReader()
        self._soc_temp = soc_temp
        self._clock = clock
        self._wall = wall
        self._t0 = self._last_t = clock()
        self._last = (0, 0, 0)  # captured, processed, dropped at the last sample

    def tick(self) -> None:
        """Call once per loop pass; publishes when an interval has passed."""
        now = self._clock()
        if now - self._last_t < self._interval_s:
            return
        sample = self.sample(now)
        self._publish(telemetry_message(sample, topics=self._topics, models=self._models))

    def sample(self, now: float) -> TelemetrySample:
        snap = self._snapshot()
        counters = (snap.frames_captured, snap.frames_processed, snap.frames_dropped)
        dt = max(now - self._last_t, 1e-6)
        fps_in = (counters[0] - self._last[0]) / dt
        fps_done = (counters[1] - self._last[1]) / dt
        dropped = counters[2] - self._last[2]
        self._last, self._last_t = counters, now
        box = self._outbox.stats()
        return TelemetrySample(
            time_s=self._wall(),
            uptime_s=now - self._t0,
            version=__version__,
            analysis=self._analysis(),
            fps_in=fps_in,
            fps_processed=fps_done,
            frames_dropped=max(0, dropped),
            detect_ms=snap.detect_ms,
            classify_ms=snap.classify_ms,
            faces_now=snap.faces_now,
            mqtt_reconnects=self._reconnects(),
            outbox_depth=box.depth,
            outbox_bytes=box.bytes,
            outbox_oldest_s=box.oldest_due_s,
            dropped=box.dropped,
            soc_temp_c=self._soc_temp(),
            throttled=self._throttle.read(),
            camera=snap.camera,
        )
