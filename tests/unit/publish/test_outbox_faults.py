"""The outbox on a real full disk (a 1 MiB tmpfs, mounted by the test; needs root, as CI has):
no window is lost to a transient ENOSPC, seq stays in order, the cause is logged once."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import MqttConfig
from edge.config.mqtt import OutboxConfig
from edge.publish.connect import MqttSetupError
from edge.publish.message import OutboundMessage
from edge.publish.mqtt import QOS2_REFUSED, MqttPublisher
from edge.publish.outbox import Outbox
from edge.publish.outbox_records import OutboxError
from edge.publish.topics import Topics

T0 = 1_800_000_000.0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at tmp_path/disk, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk tests (run as root): {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], timeout=10, check=False)


def fill(mount: Path) -> Path:
    """Fill the file system to the last byte; returns the filler file."""
    filler = mount / "filler"
    with filler.open("wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):
            try:
                while fh.write(b"\0" * size):
                    pass
            except OSError:
                continue
    return filler


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _msg(seq: int) -> OutboundMessage:
    return OutboundMessage("edge/d/emotions", b"w" * 600 + str(seq).encode(), 1, seq=seq,
                           due_s=T0 + seq)


def test_full_disk_keeps_windows_in_memory_then_commits_them_in_order(
    disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the disk is full each window waits in memory with its seq; depth counts them and
    nothing is counted dropped; one ERROR names SQLITE_FULL and the free space (no 'cannot
    rollback'); once space is back, retry commits them in order and seq goes on after them."""
    clock = Clock()
    box = Outbox(disk / "outbox.db", OutboxConfig(), clock=clock)
    for _ in range(3):
        assert box.append(_msg(box.next()), T0).committed
    box.ack([1])
    filler = fill(disk)
    caplog.set_level(logging.INFO, logger="edge.publish.outbox")
    for _ in range(40):  # enough to exhaust what SQLite had left in its pages
        result = box.append(_msg(box.next()), T0)
    assert result.in_memory > 0 and box.in_memory == result.in_memory
    assert box.depth == box.stored + box.in_memory == 42
    assert box.stats().dropped["write_error"] == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "SQLITE_FULL" in errors[0] and "free on" in errors[0], errors[0]
    assert "rollback" not in caplog.text
    assert box.retry(T0).in_memory == box.in_memory  # still full: nothing changes

    filler.unlink()
    clock.t += 5
    result = box.retry(T0)
    assert result.in_memory == 0 and box.in_memory == 0
    seqs = [q.seq for q in box.peek(0, 100)]
    assert seqs == list(range(2, 44)), seqs
    assert "accepts writes again" in caplog.text
    assert box.next() == 44
    box.close()
    again = Outbox(disk / "outbox.db", OutboxConfig())
    assert again.last == 43 and again.depth == 42


def test_memory_bound_drops_oldest_and_counts_write_error(disk: Path) -> None:
    """Beyond its bound the memory queue drops its oldest window, counted as write_error
    (the only case that counts as dropped); the count is saved once the disk takes writes."""
    clock = Clock()
    box = Outbox(disk / "outbox.db", OutboxConfig(max_messages=3), clock=clock)
    filler = fill(disk)
    for _ in range(40):
        box.append(_msg(box.next()), T0)
    assert box.in_memory <= 3
    dropped = box.stats().dropped["write_error"]
    assert dropped >= 37 - box.stored
    filler.unlink()
    clock.t += 5
    box.retry(T0)
    box.close()
    assert Outbox(disk / "outbox.db", OutboxConfig()).stats().dropped["write_error"] == dropped


def test_full_disk_at_start_is_a_clear_error(disk: Path) -> None:
    """A new outbox on a full disk stops start-up with the state dir, the free space and what
    to do, never with the 'move it aside' advice meant for a damaged file."""
    fill(disk)
    with pytest.raises(OutboxError) as info:
        Outbox(disk / "outbox.db", OutboxConfig())
    text = str(info.value)
    assert f"state directory {disk} is full" in text and "free space" in text, text
    assert "move it aside" not in text


def test_full_disk_at_start_leaves_no_file_behind(disk: Path) -> None:
    """A start on a full disk says "nothing was written" and leaves nothing: no empty
    outbox.db, -wal or -shm, and no empty edge.lock from the state directory's lock."""
    from edge.service.state import StateDirError, exclusive_state_dir

    filler = fill(disk)
    with pytest.raises(OutboxError, match="nothing was written"):
        Outbox(disk / "outbox.db", OutboxConfig())
    with (
        pytest.raises(StateDirError, match="nothing in it was changed"),
        exclusive_state_dir(disk),
    ):
        pass
    assert sorted(disk.iterdir()) == [filler]


def test_qos2_is_refused_with_the_reason(tmp_path: Path) -> None:
    """mqtt.qos 2 stops start-up with an explanation and the fix (qos 1 + de-dup by seq)."""
    box = Outbox(tmp_path / "o.db", OutboxConfig())
    with pytest.raises(MqttSetupError, match="qos: 1") as info:
        MqttPublisher(MqttConfig(qos=2), Topics("edge", "d"), box, window_s=1.0)
    assert str(info.value) == QOS2_REFUSED


def test_full_disk_at_start_with_an_existing_outbox_keeps_it(disk: Path) -> None:
    """An existing outbox on a full disk: the message says the disk is full and that the
    outbox is left untouched (its windows are sent later), never 'move it aside'."""
    box = Outbox(disk / "outbox.db", OutboxConfig())
    box.append(_msg(box.next()), T0)
    box.close()
    fill(disk)
    with pytest.raises(OutboxError) as info:
        Outbox(disk / "outbox.db", OutboxConfig())
    text = str(info.value)
    assert "is full" in text and "left untouched" in text, text
    assert "move it aside" not in text
