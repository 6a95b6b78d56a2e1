"""State directory resolution, its single-owner lock and the persisted sequence number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.service.state import (
    DEFAULT_STATE_DIR,
    SeqStore,
    StateDirError,
    exclusive_state_dir,
    prepare_state_dir,
    resolve_state_dir,
)


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


def test_state_dir_has_one_owner_at_a_time(tmp_path: Path) -> None:
    """A second owner of the state directory is refused with the first one's pid and the fix;
    once the first lets go, the directory can be taken again."""
    with exclusive_state_dir(tmp_path):
        assert (tmp_path / "edge.lock").read_text().strip() == str(os.getpid())
        refused = rf"in use by another edge process \(pid {os.getpid()}\).*state_dir"
        with pytest.raises(StateDirError, match=refused), exclusive_state_dir(tmp_path):
            pass
    with exclusive_state_dir(tmp_path) as path:
        assert path == tmp_path


def test_second_edge_run_on_one_state_dir_exits_1(tmp_path: Path) -> None:
    """`edge run` refuses to start on a state directory another process holds (two services on
    one outbox would send windows twice), and says which process holds it."""
    config = tmp_path / "edge.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt:\n  host: 127.0.0.1\n  port: 1\n")
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    (tmp_path / "state").mkdir()
    with exclusive_state_dir(tmp_path / "state"):
        res = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )
    assert res.returncode == 1, res.stderr
    assert f"in use by another edge process (pid {os.getpid()})" in res.stderr
    assert "Traceback" not in res.stderr
