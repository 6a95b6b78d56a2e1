"""Window sequence numbers that are never reused, even across restarts and power cuts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from edge.state import write_atomic

log = logging.getLogger(__name__)


class SeqSource(Protocol):
    """Where the pipeline gets window sequence numbers (this file store, or the outbox)."""

    @property
    def last(self) -> int: ...

    def next(self) -> int: ...


class SeqStore:
    """Hands out strictly increasing ``seq`` values, persisting each before it is used.

    The counter lives in ``<state_dir>/seq``. A value is written (fsync + rename) before it is
    returned, so a crash can skip a number but never repeat one.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._last = self._read()

    def _read(self) -> int:
        try:
            text = self._path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        try:
            value = int(text)
        except ValueError:
            raise RuntimeError(
                f"sequence file {self._path} is corrupt ({text[:20]!r}); subscribers detect "
                "gaps by seq, so it is not reset silently: delete the file to restart at 1"
            ) from None
        return max(value, 0)

    @property
    def last(self) -> int:
        return self._last

    def next(self) -> int:
        value = self._last + 1
        write_atomic(self._path, f"{value}\n".encode("ascii"))
        self._last = value
        return value
