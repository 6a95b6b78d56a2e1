"""State directory resolution and the persisted sequence number."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.publish.seq import SeqStore
from edge.state import DEFAULT_STATE_DIR, StateDirError, prepare_state_dir, resolve_state_dir


def test_state_dir_order(tmp_path: Path) -> None:
    """$STATE_DIRECTORY wins, then the configured path, then /var/lib/edge."""
    assert resolve_state_dir(tmp_path, {"STATE_DIRECTORY": "/run/a:/run/b"}) == Path("/run/a")
    assert resolve_state_dir(tmp_path, {}) == tmp_path
    assert resolve_state_dir(None, {}) == DEFAULT_STATE_DIR


def test_unwritable_state_dir_is_explained(tmp_path: Path) -> None:
    """A state dir that cannot be created gives an error naming the path and the fix."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateDirError, match="STATE_DIRECTORY"):
        prepare_state_dir(blocker / "sub")


def test_seq_survives_restart(tmp_path: Path) -> None:
    """seq strictly increases and continues after a restart (a new store on the same file)."""
    store = SeqStore(tmp_path / "seq")
    assert [store.next() for _ in range(3)] == [1, 2, 3]
    again = SeqStore(tmp_path / "seq")
    assert again.last == 3
    assert again.next() == 4


def test_corrupt_seq_is_not_reset_silently(tmp_path: Path) -> None:
    """A corrupt seq file stops start-up with instructions instead of restarting at 1."""
    (tmp_path / "seq").write_text("garbage")
    with pytest.raises(RuntimeError, match="delete the file"):
        SeqStore(tmp_path / "seq")
