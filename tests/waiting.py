"""Waiting on a condition with a deadline, instead of a fixed ``time.sleep``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float,
    *,
    interval_s: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Poll ``predicate()`` every ``interval_s`` until it returns something truthy, and return
    that. After ``timeout_s`` raise AssertionError naming ``message`` (a string, or a function
    called then for the details worth seeing) and the last value the predicate returned."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"{what}: not reached within {timeout_s:g} s (last: {value!r})")
        time.sleep(interval_s)
