"""The capture thread tells the truth about the camera and about itself: state changes
(opening, ok, lost, paused), a heartbeat with a promise, and an unexpected exception that is
reported instead of killing the thread silently."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge.camera.base import Capture, CaptureError, LatestFrameSource
from edge.service.health import Heartbeats, ServiceHealth, WorkerFailedError
from edge.types import ImageArray


class FlakyCapture:
    """Delivers ``frames`` frames, then fails like a camera that was unplugged."""

    opened = 0

    def __init__(self, frames: int, error: Exception | None = None) -> None:
        FlakyCapture.opened += 1
        self.frames = frames
        self.error = error or CaptureError("no frame from cam")
        self.closed = False

    def read(self) -> ImageArray | None:
        if self.frames <= 0:
            raise self.error
        self.frames -= 1
        time.sleep(0.005)  # a camera's frame interval (200 fps): the fake paces like one
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        self.closed = True


def _wait_for(predicate: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def _source(opener: object, **kw: object) -> LatestFrameSource:
    return LatestFrameSource(
        opener,  # type: ignore[arg-type]
        name="t",
        reopen_initial_s=0.02,
        reopen_max_s=0.05,
        **kw,  # type: ignore[arg-type]
    )


def test_state_goes_opening_ok_lost_and_back_with_reopens_counted() -> None:
    """A camera that fails after a few frames is 'lost' with a new 'since', is reopened with
    the attempts counted, and is 'ok' again once frames flow."""
    with _source(lambda: FlakyCapture(3)) as src:
        assert src.status.state in ("opening", "ok")
        assert src.wait_first_attempt(5.0)
        _wait_for(lambda: src.status.reopen_attempts >= 2)
        seen = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and seen != {"ok", "lost"}:
            seen.add(src.status.state)
            src.read(0.01)
        assert seen == {"ok", "lost"}
        assert src.stats.camera.reopen_attempts >= 2


def test_a_camera_that_never_opens_is_lost_not_an_empty_room() -> None:
    """An opener that always fails leaves the source 'lost' (never 'ok') with growing
    reopen attempts, and the first open attempt counts as finished."""

    def never() -> Capture:
        raise CaptureError("cannot open rtsp://***@127.0.0.1:1/x")

    with _source(never) as src:
        assert src.wait_first_attempt(5.0)
        _wait_for(lambda: src.status.reopen_attempts >= 3)
        assert src.status.state == "lost" and not src.status.delivering
        assert src.read(0.01) is None


def test_pause_closes_the_camera_and_resume_reopens_it() -> None:
    """While paused no capture is open and no frame is read; resume opens it again."""
    captures: list[FlakyCapture] = []

    def opener() -> Capture:
        captures.append(FlakyCapture(10_000))
        return captures[-1]

    with _source(opener) as src:
        _wait_for(lambda: src.status.state == "ok")
        src.pause()
        _wait_for(lambda: src.status.state == "paused")
        assert all(c.closed for c in captures)
        before = src.stats.captured
        time.sleep(0.1)  # "nothing is read while paused": 20 frame intervals of FlakyCapture
        assert src.stats.captured == before and src.read(0.01) is None
        src.resume()
        _wait_for(lambda: src.status.state == "ok")
        assert len(captures) == 2 and src.stats.captured > before


def test_unexpected_exception_is_reported_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An OSError inside the capture thread (not a lost camera) is logged with its traceback
    and reported to the heartbeat; the service's tick then raises WorkerFailedError."""
    workers = Heartbeats()
    beat = workers.new("capture")
    with caplog.at_level(logging.ERROR, logger="edge.camera.base"):
        src = _source(lambda: FlakyCapture(2, OSError(5, "Input/output error")), liveness=beat)
        with src:
            _wait_for(lambda: beat.failure is not None)
    assert isinstance(beat.failure, OSError)
    [record] = [r for r in caplog.records if "died" in r.getMessage()]
    assert record.exc_info is not None
    with pytest.raises(WorkerFailedError, match="capture thread died"):
        workers.raise_if_failed()


class RecordingNotifier:
    """Our own notifier's surface, recording what would go to systemd."""

    watchdog_interval_s = 2.0

    def __init__(self) -> None:
        self.sent: list[str] = []

    def ready(self) -> None:
        self.sent.append("READY")

    def watchdog(self) -> None:
        self.sent.append("WATCHDOG")

    def status(self, text: str) -> None:
        self.sent.append(f"STATUS={text}")

    def stopping(self) -> None:
        self.sent.append("STOPPING")


def test_stalled_worker_stops_watchdog_pings_until_it_beats_again() -> None:
    """A worker past its promise (plus grace) gets no WATCHDOG=1 sent for it, and STATUS says
    which thread stalled; pings resume when it beats again. Time is injected."""
    now = [0.0]
    workers = Heartbeats(clock=lambda: now[0])
    beat = workers.new("capture")
    notifier = RecordingNotifier()
    health = ServiceHealth(notifier, lambda: "fine", clock=lambda: now[0], workers=workers)  # type: ignore[arg-type]
    beat.beat(1.0)
    health.tick()
    assert notifier.sent.count("WATCHDOG") == 1
    now[0] = 20.0  # the promise was 1 s (+5 s grace)
    notifier.sent.clear()
    health.tick()
    assert "WATCHDOG" not in notifier.sent
    assert any(m.startswith("STATUS=stalled: capture") for m in notifier.sent)
    beat.beat(1.0)
    now[0] = 22.0
    health.tick()
    assert "WATCHDOG" in notifier.sent


def test_first_attempt_waits_for_a_slow_open() -> None:
    """wait_first_attempt returns False while the opener is still blocked, True once it
    delivered (READY=1 is sent after this, not before the camera opened)."""
    gate = threading.Event()

    def slow() -> Capture:
        gate.wait(5)
        return FlakyCapture(10_000)

    with _source(slow) as src:
        assert not src.wait_first_attempt(0.1)
        gate.set()
        assert src.wait_first_attempt(5.0)


def test_the_switch_owns_the_pause_and_the_source_follows_it(tmp_path: Path) -> None:
    """A source built with the remote-pause switch as its gate closes the camera when the
    switch goes OFF and reopens it when it goes ON, with nobody polling in between; the
    source cannot be paused behind its owner's back, and the persisted OFF state is obeyed
    from the start (the camera is never opened, and the first attempt counts as settled, so
    the service's READY does not wait for a camera it will not open)."""
    from edge.service.pause import AnalysisSwitch

    captures: list[FlakyCapture] = []

    def opener() -> Capture:
        captures.append(FlakyCapture(10_000))
        return captures[-1]

    switch = AnalysisSwitch(tmp_path / "analysis")
    with _source(opener, gate=switch) as src:
        _wait_for(lambda: src.status.state == "ok")
        switch.set(False)
        _wait_for(lambda: src.status.state == "paused")
        assert src.paused and all(c.closed for c in captures)
        assert src.read(0.01) is None
        with pytest.raises(RuntimeError, match="switch the gate"):
            src.resume()
        switch.set(True)
        _wait_for(lambda: src.status.state == "ok")
        assert len(captures) == 2 and not src.paused
        switch.set(False)
    opened = len(captures)
    with _source(opener, gate=AnalysisSwitch(tmp_path / "analysis")) as again:
        _wait_for(lambda: again.status.state == "paused")
        assert len(captures) == opened
        # a source that starts paused has settled its first attempt: READY is not held back
        assert again.wait_first_attempt(0.0)
