"""The durable outbox: order, acknowledgement, bounds, persistence of seq and drop counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.config.mqtt import OutboxConfig
from edge.publish.message import OutboundMessage
from edge.publish.outbox import Outbox
from edge.publish.outbox_records import OutboxError, bytes_to_drop, is_historical
from edge.publish.window import as_historical

T0 = 1_800_000_000.0


def _msg(seq: int, due_s: float = T0, size: int = 10) -> OutboundMessage:
    return OutboundMessage("edge/d/emotions", b"x" * size, 1, seq=seq, due_s=due_s)


def _fill(box: Outbox, count: int, **kw: float) -> list[int]:
    seqs = []
    for _ in range(count):
        seq = box.next()
        box.append(_msg(seq, **kw), T0)
        seqs.append(seq)
    return seqs


def test_fifo_and_delete_only_on_ack(tmp_path: Path) -> None:
    """Messages come out oldest first; only acknowledged ones leave the outbox."""
    box = Outbox(tmp_path / "o.db", OutboxConfig())
    assert _fill(box, 5) == [1, 2, 3, 4, 5]
    assert [q.seq for q in box.peek(0, 3)] == [1, 2, 3]
    assert [q.seq for q in box.peek(3, 10)] == [4, 5]
    box.ack([1, 3])
    assert [q.seq for q in box.peek(0, 10)] == [2, 4, 5]
    assert box.depth == 3 and box.stats().bytes == 30


def test_survives_crash_without_close(tmp_path: Path) -> None:
    """A second process opening the file (the first never closed it, as after SIGKILL) sees
    every appended window and continues seq after the last committed one."""
    first = Outbox(tmp_path / "o.db", OutboxConfig())
    _fill(first, 3)
    first.ack([1])
    first.next()  # reserved, never appended: the crash loses nothing published
    second = Outbox(tmp_path / "o.db", OutboxConfig())
    assert [q.seq for q in second.peek(0, 10)] == [2, 3]
    assert second.last == 3
    assert second.next() == 4


def test_epoch_is_created_once_and_kept(tmp_path: Path) -> None:
    """An outbox has a random epoch (16 hex digits) created with its database: reopening
    keeps it, a new database (a wiped state directory) gets another one."""
    first = Outbox(tmp_path / "o.db", OutboxConfig())
    epoch = first.epoch
    first.close()
    assert len(epoch) == 16 and int(epoch, 16) > 0
    assert Outbox(tmp_path / "o.db", OutboxConfig()).epoch == epoch
    (tmp_path / "wiped").mkdir()
    assert Outbox(tmp_path / "wiped" / "o.db", OutboxConfig()).epoch != epoch


def test_bounds_drop_oldest_and_count_persistently(tmp_path: Path) -> None:
    """Beyond max_messages the oldest go, counted; the counts survive a reopen."""
    limits = OutboxConfig(max_messages=3)
    box = Outbox(tmp_path / "o.db", limits)
    _fill(box, 5)
    assert [q.seq for q in box.peek(0, 10)] == [3, 4, 5]
    assert box.stats().dropped["max_messages"] == 2
    box.close()
    again = Outbox(tmp_path / "o.db", limits)
    assert again.stats().dropped["max_messages"] == 2
    assert again.stats().last_seq == 5


def test_age_and_byte_bounds(tmp_path: Path) -> None:
    """Windows older than max_age_s are dropped at the next append; payload bytes are capped."""
    box = Outbox(tmp_path / "o.db", OutboxConfig(max_age_s=3600, max_bytes=65_536))
    box.append(_msg(box.next(), due_s=T0 - 7200), T0)  # already too old when appended
    box.append(_msg(box.next(), due_s=T0), T0)
    assert [q.seq for q in box.peek(0, 10)] == [2]
    assert box.stats().dropped["max_age"] == 1
    for _ in range(3):
        box.append(_msg(box.next(), size=30_000), T0)
    stats = box.stats()
    assert stats.bytes <= 65_536
    assert stats.dropped["max_bytes"] == 2
    assert [q.seq for q in box.peek(0, 10)] == [4, 5]


def test_bookkeeping_rules_are_pure() -> None:
    """bytes_to_drop removes the fewest oldest rows; is_historical uses 2 x window_s."""
    assert bytes_to_drop([10, 10, 10], 30, 30) == 0
    assert bytes_to_drop([10, 10, 10], 30, 15) == 2
    assert bytes_to_drop([50, 1], 51, 0) == 2
    assert not is_historical(due_s=100.0, sent_s=101.9, window_s=1.0)
    assert is_historical(due_s=100.0, sent_s=102.1, window_s=1.0)
    assert not is_historical(due_s=100.0, sent_s=219.0, window_s=60.0)


def test_historical_flag_keeps_everything_else() -> None:
    """as_historical only flips `historical`; seq and the original times stay."""
    payload = b'{"seq":7,"window_end":"2026-01-01T00:00:00.000Z","historical":false}'
    assert as_historical(payload) == (
        b'{"seq":7,"window_end":"2026-01-01T00:00:00.000Z","historical":true}'
    )


def test_migrates_legacy_seq_file(tmp_path: Path) -> None:
    """The seq file of earlier versions is taken over once and renamed, so seq continues."""
    (tmp_path / "seq").write_text("41\n")
    box = Outbox(tmp_path / "o.db", OutboxConfig(), legacy_seq_file=tmp_path / "seq")
    assert box.next() == 42
    assert not (tmp_path / "seq").exists() and (tmp_path / "seq.migrated").exists()
    box.append(_msg(42), T0)
    again = Outbox(tmp_path / "o.db", OutboxConfig(), legacy_seq_file=tmp_path / "seq")
    assert again.last == 42


def test_corrupt_files_are_explained(tmp_path: Path) -> None:
    """A damaged database or legacy seq file stops start-up with instructions, never a reset."""
    (tmp_path / "bad.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(OutboxError, match="move it aside"):
        Outbox(tmp_path / "bad.db", OutboxConfig())
    (tmp_path / "seq").write_text("garbage")
    with pytest.raises(OutboxError, match="delete the file"):
        Outbox(tmp_path / "o.db", OutboxConfig(), legacy_seq_file=tmp_path / "seq")


def test_wal_mode_and_full_sync(tmp_path: Path) -> None:
    """The database is in WAL mode (the documented fsync policy relies on it)."""
    Outbox(tmp_path / "o.db", OutboxConfig())
    with sqlite3.connect(tmp_path / "o.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
