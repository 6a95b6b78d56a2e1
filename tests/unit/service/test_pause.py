"""Remote pause: command parsing, persistence, and a rate-limited warning for junk."""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.publish.control import analysis_state_message, parse_switch
from edge.publish.topics import Topics
from edge.service.pause import AnalysisSwitch, RateLimitedWarning


def test_only_exact_on_off_are_commands() -> None:
    """ON and OFF switch; case variants, white space, JSON and binary are not commands."""
    assert parse_switch(b"ON") is True
    assert parse_switch(b"OFF") is False
    for junk in (b"on", b" ON", b"OFF\n", b"1", b"true", b'{"state":"ON"}', b"", b"\xff\xfe"):
        assert parse_switch(junk) is None


def test_state_persists_and_is_announced(tmp_path: Path) -> None:
    """OFF is written to the state dir and survives a restart; each change calls back once."""
    seen: list[bool] = []
    switch = AnalysisSwitch(tmp_path / "analysis", on_change=seen.append)
    assert switch.enabled
    switch.handle(b"OFF")
    switch.handle(b"OFF")
    assert seen == [False]
    assert not AnalysisSwitch(tmp_path / "analysis").enabled
    switch.handle(b"ON")
    assert AnalysisSwitch(tmp_path / "analysis").enabled
    assert analysis_state_message(Topics("edge", "d"), False).payload == b"OFF"


def test_random_payloads_change_nothing_and_warn_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """200 random/malformed payloads leave the state unchanged and log a single warning
    within the rate-limit interval (time injected: no sleeping)."""
    now = [0.0]
    switch = AnalysisSwitch(tmp_path / "analysis", clock=lambda: now[0])
    rng = random.Random(7)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))) for _ in range(190)]
    payloads += [b"on", b"off", b"On", b"ON ", b" OFF", b"null", b"{}", b"ONOFF", b"\x00", b"0"]
    with caplog.at_level(logging.WARNING, logger="edge.service.pause"):
        for payload in payloads:
            if parse_switch(payload) is not None:
                continue
            switch.handle(payload)
            now[0] += 0.1
    assert switch.enabled
    assert not (tmp_path / "analysis").exists()
    warnings = [r for r in caplog.records if "ignored analysis command" in r.getMessage()]
    assert len(warnings) == 1


def test_rate_limited_warning_reports_the_suppressed_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the interval the next warning says how many were suppressed."""
    now = [0.0]
    warning = RateLimitedWarning(60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert warning.warn("bad")
        assert not warning.warn("bad")
        now[0] = 61.0
        assert warning.warn("bad")
    assert "1 more ignored" in caplog.records[-1].getMessage()


def test_unreadable_state_file_keeps_analysis_on(tmp_path: Path) -> None:
    """A state file with junk in it does not stop the sensor: analysis stays on."""
    (tmp_path / "analysis").write_text("maybe")
    assert AnalysisSwitch(tmp_path / "analysis").enabled


def test_a_flood_of_toggles_is_coalesced_to_one_change_per_min_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """400 alternating ON/OFF commands within 4 s (time injected) change the switch at most
    once per MIN_TOGGLE_S: the first at once, each held latest one when the interval is
    over; one state-file write and one announcement per change, the latest command wins,
    and the coalescing is logged once."""
    from edge.service.pause import MIN_TOGGLE_S

    now = [0.0]
    timers: list[tuple[float, Callable[[], None]]] = []
    seen: list[bool] = []
    writes: list[bool] = []

    def schedule(delay_s: float, fn: Callable[[], None]) -> None:
        timers.append((now[0] + delay_s, fn))

    def run_due() -> None:
        for due in [t for t in timers if t[0] <= now[0]]:
            timers.remove(due)
            due[1]()

    switch = AnalysisSwitch(
        tmp_path / "analysis", on_change=seen.append, clock=lambda: now[0], schedule=schedule
    )
    switch.subscribe(lambda on: writes.append((tmp_path / "analysis").read_text() == "ON\n"))
    with caplog.at_level(logging.INFO, logger="edge.service.pause"):
        for i in range(400):
            switch.handle(b"OFF" if i % 2 == 0 else b"ON")
            now[0] += 0.01
            run_due()
        switch.handle(b"OFF")  # the last word
        now[0] += MIN_TOGGLE_S
        run_due()
    assert len(seen) <= 4.0 / MIN_TOGGLE_S + 2
    assert seen[0] is False and seen[-1] is False and not switch.enabled
    assert all(a != b for a, b in itertools.pairwise(seen))  # each a real change
    assert writes == seen  # the file was written once per change, before the announcement
    switched = [r for r in caplog.records if "analysis switched" in r.getMessage()]
    coalesced = [r for r in caplog.records if "coalesced" in r.getMessage()]
    assert len(switched) == len(seen) and len(coalesced) == 1


def test_a_command_after_the_interval_joins_a_held_one_whose_timer_has_not_run(
    tmp_path: Path,
) -> None:
    """A held command's timer may be due but not run yet when the next command arrives
    (the MQTT thread handles messages before timers): that command replaces the held one
    instead of switching at once, so two changes never come closer than MIN_TOGGLE_S."""
    from edge.service.pause import MIN_TOGGLE_S

    now = [0.0]
    timers: list[Callable[[], None]] = []
    seen: list[tuple[float, bool]] = []
    switch = AnalysisSwitch(
        tmp_path / "analysis",
        on_change=lambda on: seen.append((now[0], on)),
        clock=lambda: now[0],
        schedule=lambda _delay, fn: timers.append(fn),
    )
    switch.handle(b"OFF")  # applied at 0
    now[0] = 0.5
    switch.handle(b"ON")  # held; its timer is due at MIN_TOGGLE_S
    now[0] = 1.0
    switch.handle(b"OFF")  # replaces the held one
    now[0] = MIN_TOGGLE_S + 0.1
    switch.handle(b"ON")  # the timer is overdue but has not run: joins the held command
    assert seen == [(0.0, False)]
    timers.pop()()
    assert seen == [(0.0, False), (MIN_TOGGLE_S + 0.1, True)]  # one change, the latest won
    assert timers == [] and switch.enabled
