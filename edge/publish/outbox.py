"""The durable outbox: every closed window is committed to disk before it is published.

One SQLite database, ``<state_dir>/outbox.db``, in WAL mode. A row leaves it only on the
broker's PUBACK, oldest first; ``seq`` is committed in the same transaction as the window's row.

fsync policy: ``synchronous=FULL``. Each window is one transaction (insert, prune, last seq)
whose commit fsyncs the WAL before :meth:`Outbox.append` returns, so a window that was closed
survives SIGKILL and power loss. Acknowledgements are batched (one transaction per network
loop pass): a power cut only re-sends the last ones (subscribers de-duplicate by ``seq``).

Bounded: beyond ``max_messages``, ``max_age_s`` or ``max_bytes`` (payload bytes) the oldest
rows are deleted in the same transaction and counted per reason in the database, so the
counts survive restarts and telemetry reports them (pure rules: :func:`bytes_to_drop`,
:func:`is_historical`).

Transient faults (a full disk, an I/O error): a window whose commit fails waits, with its
``seq``, in a bounded in-memory queue and is committed, in order, as soon as the disk takes it
again (every append and every :meth:`Outbox.retry`); the cause is logged once per change of
state. ``depth`` counts rows on disk not yet deleted plus windows in memory; only a window
pushed out of the memory queue by its bound is counted as dropped (``write_error``). Refused
deletions and drop counts wait in memory too. A window in memory is never published (only
committed rows are), so no ``seq`` is ever seen with two contents.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.config.mqtt import OutboxConfig
from edge.publish import diskfault
from edge.publish.message import OutboundMessage
from edge.publish.outbox_records import (
    DROP_REASONS,
    MEMORY_MAX_MESSAGES,
    RETRY_S,
    Appended,
    OutboxError,
    OutboxStats,
    Queued,
    bytes_to_drop,
    epoch_text,
)
from edge.publish.outbox_records import SCHEMA as _SCHEMA

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the store


class Outbox:
    """Thread-safe durable FIFO of window messages plus the persisted ``seq`` counter.

    It also acts as the pipeline's sequence source (:meth:`next`, :attr:`last`): a number is
    reserved in memory and becomes durable with its window's row. A reserved number whose
    window never reached the disk was never published, so re-using it after a crash is safe.
    """

    def __init__(
        self,
        path: Path,
        limits: OutboxConfig,
        *,
        legacy_seq_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        before = diskfault.present_files(path)
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._count, self._bytes = self._totals()
            self._last = self._meta("last_seq")
            #: Created once with the database (see SCHEMA), e.g. ``"3f9c0d1e22a4b5c6"``.
            self.epoch = epoch_text(self._meta("epoch"))
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self._db.close()
            message = diskfault.startup_error(exc, path)
            diskfault.remove_new_files(path, before)  # a failed start leaves nothing behind
            raise OutboxError(message) from None
        self._reserved = self._last
        self._memory: deque[OutboundMessage] = deque()
        self._memory_bytes = 0
        self._deleted: set[int] = set()  # delivered or dropped rows whose DELETE failed
        self._unsaved: dict[str, int] = {}  # drop counts not yet in the database
        self._faults = diskfault.FaultLog(path, min(MEMORY_MAX_MESSAGES, limits.max_messages))
        self._next_retry = 0.0
        if legacy_seq_file is not None:
            self._migrate_seq_file(legacy_seq_file)

    # -- sequence numbers ----------------------------------------------------------------
    @property
    def last(self) -> int:
        """The last sequence number handed out."""
        return self._reserved

    def next(self) -> int:
        """Reserve the next sequence number (durable once its window is committed)."""
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
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._set_meta("last_seq", value)
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    raise OutboxError(diskfault.startup_error(exc, self.path)) from None
                self._last = self._reserved = value
        os.replace(legacy, legacy.with_name(legacy.name + ".migrated"))
        log.info("seq %d taken over from %s into the outbox", value, legacy)

    # -- queue ---------------------------------------------------------------------------
    def append(self, message: OutboundMessage, now_s: float) -> Appended:
        """Commit one window (fsync) and enforce the bounds. When the disk refuses, the window
        waits in memory (with its seq) behind any others and is committed by a later call."""
        if message.seq is None or message.due_s is None:
            raise ValueError("only window messages (with seq and due_s) go through the outbox")
        with self._lock:
            self._memory.append(message)
            self._memory_bytes += len(message.payload)
            self._bound_memory()
            return self._flush(now_s)

    def retry(self, now_s: float) -> Appended:
        """Commit what waits in memory and the deletions the disk refused, at most once per
        ``RETRY_S`` (cheap when there is nothing to do: call it often)."""
        with self._lock:
            if not (self._memory or self._deleted or self._unsaved):
                return Appended()
            if self._clock() < self._next_retry:
                return Appended(in_memory=len(self._memory))
            self._flush_deletes()
            return self._flush(now_s)

    def _bound_memory(self) -> None:
        """Drop the oldest windows in memory beyond its bounds (counted ``write_error``)."""
        cap = min(MEMORY_MAX_MESSAGES, self._limits.max_messages)
        while len(self._memory) > cap or (
            len(self._memory) > 1 and self._memory_bytes > self._limits.max_bytes
        ):
            lost = self._memory.popleft()
            self._memory_bytes -= len(lost.payload)
            self._unsaved["write_error"] = self._unsaved.get("write_error", 0) + 1
            self._faults.dropped(lost.seq, len(self._memory) + 1)

    def _flush(self, now_s: float) -> Appended:
        committed: list[OutboundMessage] = []
        dropped: dict[str, int] = {}
        while self._memory:
            message = self._memory[0]
            try:
                pruned = self._commit(message, now_s)
            except sqlite3.Error as exc:
                self._failed(exc, message)
                break
            self._memory.popleft()
            self._memory_bytes -= len(message.payload)
            committed.append(message)
            for reason, count in pruned.items():
                dropped[reason] = dropped.get(reason, 0) + count
        if committed and not self._memory:
            self._faults.recovered(committed[0].seq, committed[-1].seq, len(committed))
        return Appended(committed, dropped, len(self._memory))

    def _commit(self, message: OutboundMessage, now_s: float) -> dict[str, int]:
        """One transaction: insert, bounds, unsaved drop counts, last seq. The in-memory
        counters change only once it committed."""
        assert message.seq is not None and message.due_s is not None
        size = len(message.payload)
        saved = (self._count, self._bytes)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO messages (seq, topic, payload, qos, due_s, size) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (message.seq, message.topic, message.payload, message.qos, message.due_s, size),
            )
            self._count += 1
            self._bytes += size
            dropped = self._prune(now_s)
            for reason, count in self._unsaved.items():
                self._add_meta(f"dropped_{reason}", count)
            if message.seq > self._last:
                self._set_meta("last_seq", message.seq)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            self._count, self._bytes = saved
            raise
        self._unsaved.clear()
        self._last = max(self._last, message.seq)
        return dropped

    def _rollback(self) -> None:
        """Roll back if a transaction is still open (SQLite ends some itself, e.g. on
        SQLITE_FULL); never let a rollback error hide the real one."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _failed(self, exc: sqlite3.Error, message: OutboundMessage) -> None:
        self._next_retry = self._clock() + RETRY_S
        self._faults.failed(exc, message.seq, len(self._memory), RETRY_S)

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
            self._add_meta(f"dropped_{reason}", count)
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
        """Up to ``limit`` undelivered rows with ``seq > after_seq``, oldest first (windows
        still in memory are not offered: they are published once committed)."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT seq, topic, payload, qos, due_s FROM messages WHERE seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (after_seq, limit + len(self._deleted)),
                ).fetchall()
            except sqlite3.Error as exc:
                log.debug("outbox read failed, retried next pass: %s", exc)
                return []
        queued = [Queued(int(s), str(t), bytes(p), int(q), float(d)) for s, t, p, q, d in rows]
        return [q for q in queued if q.seq not in self._deleted][:limit]

    def ack(self, seqs: Sequence[int]) -> None:
        """Delete delivered rows (one transaction for the batch); when the disk refuses, they
        are remembered as delivered and deleted later."""
        if not seqs:
            return
        with self._lock:
            self._deleted.update(seqs)
            self._flush_deletes()

    def count_drop(self, reason: str, seq: int | None = None) -> None:
        """Count a window lost for ``reason`` (deleting its row when ``seq`` is given)."""
        with self._lock:
            self._unsaved[reason] = self._unsaved.get(reason, 0) + 1
            if seq is not None:
                self._deleted.add(seq)
            self._flush_deletes()

    def _flush_deletes(self) -> None:
        if not (self._deleted or self._unsaved):
            return
        saved = (self._count, self._bytes)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for seq in sorted(self._deleted):
                self._delete("DELETE FROM messages WHERE seq = ? RETURNING size", (seq,))
            for reason, count in self._unsaved.items():
                self._add_meta(f"dropped_{reason}", count)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._count, self._bytes = saved
            self._next_retry = self._clock() + RETRY_S
            log.debug("outbox deletions kept in memory, retried: %s", exc)
            return
        self._deleted.clear()
        self._unsaved.clear()

    def stats(self) -> OutboxStats:
        """What really waits: rows on disk not yet deleted plus windows in memory."""
        with self._lock:
            try:
                oldest = self._db.execute(
                    "SELECT min(due_s) FROM messages WHERE seq NOT IN "
                    f"({','.join('?' * len(self._deleted))})",
                    tuple(self._deleted),
                ).fetchone()[0]
                dropped = {r: self._meta(f"dropped_{r}") for r in DROP_REASONS}
            except sqlite3.Error as exc:
                log.debug("outbox stats read failed: %s", exc)
                oldest, dropped = None, dict.fromkeys(DROP_REASONS, 0)
            if self._memory and self._memory[0].due_s is not None:
                first = self._memory[0].due_s
                oldest = first if oldest is None else min(float(oldest), first)
            for reason, count in self._unsaved.items():
                dropped[reason] = dropped.get(reason, 0) + count
            return OutboxStats(
                self.depth, self._bytes + self._memory_bytes, oldest, self._reserved, dropped
            )

    @property
    def depth(self) -> int:
        """Windows waiting for the broker: on disk (not yet deleted) plus in memory."""
        return self._count - len(self._deleted) + len(self._memory)

    @property
    def stored(self) -> int:
        """Windows on disk waiting for the broker (they survive a restart)."""
        return self._count - len(self._deleted)

    @property
    def in_memory(self) -> int:
        """Windows waiting in memory for the disk to take them."""
        return len(self._memory)

    def close(self) -> None:
        """Last commit attempt for what waits in memory (logged and counted when it fails:
        those windows are lost), checkpoint, close."""
        with self._lock:
            self._flush_deletes()
            self._flush(time.time())
            if self._memory:
                seqs = [m.seq for m in self._memory]
                self._unsaved["write_error"] = self._unsaved.get("write_error", 0) + len(seqs)
                self._flush_deletes()
                self._faults.lost_at_stop(seqs, not self._unsaved)
                self._memory.clear()
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

    def _add_meta(self, key: str, count: int) -> None:
        self._set_meta(key, self._meta(key) + count)

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
