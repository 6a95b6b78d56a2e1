"""Remote pause: command parsing, persistence, and a rate-limited warning for junk."""

from __future__ import annotations

import logging
import random
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
