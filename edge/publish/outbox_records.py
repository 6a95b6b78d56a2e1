"""The outbox's records and pure bookkeeping rules (no I/O): what a queued window, an append
and the statistics look like, and which windows are dropped or late."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.publish.message import OutboundMessage

#: Reasons a window can leave the outbox without being delivered (telemetry ``dropped``).
DROP_REASONS: tuple[str, ...] = ("max_messages", "max_age", "max_bytes", "rejected", "write_error")

#: Windows held in memory while the disk refuses them (a day of 60 s windows, ~1 MB); beyond
#: it (or beyond ``max_bytes``) the oldest one in memory is dropped and counted ``write_error``.
MEMORY_MAX_MESSAGES = 1440
#: Least time between two commit attempts of the memory queue by :meth:`Outbox.retry`.
RETRY_S = 1.0

#: The database layout. The ``epoch`` (a random 63-bit id, like Sparkplug's bdSeq) is created
#: once with the database and kept in it: a wiped state directory gives a new outbox, a new
#: epoch and ``seq`` from 1 again, so subscribers key windows by (device, epoch, seq).
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    due_s REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', random() & 9223372036854775807);
"""


def epoch_text(value: int) -> str:
    """An outbox epoch as it appears in window payloads: 16 lowercase hex digits."""
    return f"{value:016x}"


class OutboxError(RuntimeError):
    """The outbox database cannot be opened or used; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Queued:
    """One undelivered message, as stored."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    due_s: float


@dataclass(frozen=True, slots=True)
class Appended:
    """What one :meth:`Outbox.append` (or :meth:`Outbox.retry`) did."""

    #: Windows committed by this call, oldest first (the new one, and any from memory).
    committed: list[OutboundMessage] = field(default_factory=list)
    #: Windows dropped by the bounds, per reason.
    dropped: dict[str, int] = field(default_factory=dict)
    #: Windows waiting in memory for the disk after this call.
    in_memory: int = 0


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Depth and drop counters (drops are totals since the database was created)."""

    depth: int
    bytes: int
    oldest_due_s: float | None
    last_seq: int
    dropped: dict[str, int]


def bytes_to_drop(sizes_oldest_first: Iterable[int], total: int, max_bytes: int) -> int:
    """How many of the oldest rows must go so that at most ``max_bytes`` remain."""
    count = 0
    for size in sizes_oldest_first:
        if total <= max_bytes:
            break
        total -= size
        count += 1
    return count


def is_historical(due_s: float, sent_s: float, window_s: float) -> bool:
    """A window is *historical* when it is handed to the broker more than two window lengths
    after it closed (``due_s`` is its end, UNIX seconds): it was held back by an outage, a
    restart or a backlog, not delivered live."""
    return sent_s - due_s > 2.0 * window_s
