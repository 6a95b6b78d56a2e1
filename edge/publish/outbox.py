"""The durable outbox: every closed window is committed to disk before it is published.

One SQLite database, ``<state_dir>/outbox.db``, in WAL mode. A row leaves the outbox only when
the broker acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2); the publisher drains it
oldest first. The window sequence number lives in the same database and is committed in the
same transaction as the window's row, so ``seq`` and the queue can never disagree.

fsync policy: ``synchronous=FULL``. Each window is one transaction (insert, prune, last seq)
whose commit fsyncs the WAL before :meth:`Outbox.append` returns, so a window that was closed
survives SIGKILL and power loss. Acknowledgements are batched (one transaction per network
loop pass); losing the last acknowledgements in a power cut only re-sends those windows
(at-least-once: subscribers de-duplicate by ``seq``).

Bounded: beyond ``max_messages``, ``max_age_s`` or ``max_bytes`` (payload bytes) the oldest
rows are deleted in the same transaction and counted per reason in the database, so the
counts survive restarts and telemetry reports them. The bookkeeping rules are pure functions
taking time as a parameter (:func:`bytes_to_drop`, :func:`is_historical`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.config.mqtt import OutboxConfig
from edge.publish.message import OutboundMessage

log = logging.getLogger(__name__)

#: Reasons a window can leave the outbox without being delivered (telemetry ``dropped``).
DROP_REASONS: tuple[str, ...] = ("max_messages", "max_age", "max_bytes", "rejected", "write_error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    due_s REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


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
class OutboxStats:
    """Depth and drop counters (drops are totals since the database was created)."""

    depth: int
    bytes: int
    oldest_due_s: float | None
    last_seq: int
    dropped: dict[str, int]


# ----------------------------------------------------------------------------- pure rules


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


# ----------------------------------------------------------------------------- the store


class Outbox:
    """Thread-safe durable FIFO of window messages plus the persisted ``seq`` counter.

    It also acts as the pipeline's sequence source (:meth:`next`, :attr:`last`): a number is
    reserved in memory and becomes durable with its window's row. A reserved number whose
    window never reached the outbox was never published, so re-using it after a crash is safe.
    """

    def __init__(
        self, path: Path, limits: OutboxConfig, *, legacy_seq_file: Path | None = None
    ) -> None:
        self.path = path
        self._limits = limits
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._count, self._bytes = self._totals()
            self._last = self._meta("last_seq")
        except sqlite3.Error as exc:
            raise OutboxError(
                f"outbox {path} cannot be used ({exc}); if the file is damaged, move it aside "
                "(its undelivered windows are lost and seq starts again at 1)"
            ) from None
        self._reserved = self._last
        if legacy_seq_file is not None:
            self._migrate_seq_file(legacy_seq_file)

    # -- sequence numbers ----------------------------------------------------------------
    @property
    def last(self) -> int:
        """The last sequence number handed out."""
        return self._reserved

    def next(self) -> int:
        """Reserve the next sequence number (durable once its window is appended)."""
        with self._lock:
            self._reserved += 1
            return self._reserved

    def _migrate_seq_file(self, legacy: Path) -> None:
        """Adopt ``<state_dir>/seq`` of earlier versions, then rename it ``seq.migrated``."""
        try:
            text = legacy.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return
        if not text.isdigit():
            raise OutboxError(
                f"sequence file {legacy} is corrupt ({text[:20]!r}); subscribers detect gaps by "
                "seq, so it is not reset silently: delete the file to continue from the outbox"
            )
        value = int(text)
        with self._lock:
            if value > self._last:
                self._db.execute("BEGIN IMMEDIATE")
                self._set_meta("last_seq", value)
                self._db.execute("COMMIT")
                self._last = self._reserved = value
        os.replace(legacy, legacy.with_name(legacy.name + ".migrated"))
        log.info("seq %d taken over from %s into the outbox", value, legacy)

    # -- queue ---------------------------------------------------------------------------
    def append(self, message: OutboundMessage, now_s: float) -> dict[str, int]:
        """Commit one window (fsync) and enforce the bounds; returns what was dropped."""
        if message.seq is None or message.due_s is None:
            raise ValueError("only window messages (with seq and due_s) go through the outbox")
        size = len(message.payload)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO messages (seq, topic, payload, qos, due_s, size) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (message.seq, message.topic, message.payload, message.qos, message.due_s, size),
                )
                self._count += 1
                self._bytes += size
                dropped = self._prune(now_s)
                if message.seq > self._last:
                    self._set_meta("last_seq", message.seq)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._count, self._bytes = self._totals()
                raise
            self._last = max(self._last, message.seq)
        return dropped

    def _prune(self, now_s: float) -> dict[str, int]:
        limits = self._limits
        dropped: dict[str, int] = {}
        old = self._delete(
            "DELETE FROM messages WHERE due_s < ? RETURNING size", (now_s - limits.max_age_s,)
        )
        if old:
            dropped["max_age"] = old
        excess = self._count - limits.max_messages
        if excess > 0:
            dropped["max_messages"] = self._delete_oldest(excess)
        if self._bytes > limits.max_bytes:
            sizes = (
                row[0]
                for row in self._db.execute("SELECT size FROM messages ORDER BY seq").fetchall()
            )
            dropped["max_bytes"] = self._delete_oldest(
                bytes_to_drop(sizes, self._bytes, limits.max_bytes)
            )
        for reason, count in dropped.items():
            self._set_meta(f"dropped_{reason}", self._meta(f"dropped_{reason}") + count)
        return dropped

    def _delete_oldest(self, count: int) -> int:
        return self._delete(
            "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages ORDER BY seq LIMIT ?) "
            "RETURNING size",
            (count,),
        )

    def _delete(self, sql: str, args: Sequence[object]) -> int:
        sizes = [row[0] for row in self._db.execute(sql, args).fetchall()]
        self._count -= len(sizes)
        self._bytes -= sum(sizes)
        return len(sizes)

    def peek(self, after_seq: int, limit: int) -> list[Queued]:
        """Up to ``limit`` undelivered messages with ``seq > after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, due_s FROM messages WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [Queued(int(s), str(t), bytes(p), int(q), float(d)) for s, t, p, q, d in rows]

    def ack(self, seqs: Sequence[int]) -> None:
        """Delete delivered messages (one transaction for the batch)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for seq in seqs:
                self._delete("DELETE FROM messages WHERE seq = ? RETURNING size", (seq,))
            self._db.execute("COMMIT")

    def count_drop(self, reason: str, seq: int | None = None) -> None:
        """Count a window lost for ``reason`` (deleting its row when ``seq`` is given)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            if seq is not None:
                self._delete("DELETE FROM messages WHERE seq = ? RETURNING size", (seq,))
            self._set_meta(f"dropped_{reason}", self._meta(f"dropped_{reason}") + 1)
            self._db.execute("COMMIT")

    def stats(self) -> OutboxStats:
        with self._lock:
            oldest = self._db.execute("SELECT min(due_s) FROM messages").fetchone()[0]
            dropped = {r: self._meta(f"dropped_{r}") for r in DROP_REASONS}
            return OutboxStats(self._count, self._bytes, oldest, self._reserved, dropped)

    @property
    def depth(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # busy or read-only: the WAL stays, nothing is lost
                log.debug("outbox checkpoint skipped: %s", exc)
            self._db.close()

    # -- meta ----------------------------------------------------------------------------
    def _totals(self) -> tuple[int, int]:
        count, size = self._db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM messages"
        ).fetchone()
        return int(count), int(size)

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
