"""The state directory (sequence numbers, later the outbox) and atomic writes into it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_STATE_DIR = Path("/var/lib/edge")


class StateDirError(RuntimeError):
    """The state directory cannot be created or written."""


def resolve_state_dir(configured: Path | None, env: Mapping[str, str]) -> Path:
    """``$STATE_DIRECTORY`` (systemd) when set, else ``state_dir`` from the config, else
    ``/var/lib/edge``. systemd may pass several colon-separated paths; the first is ours."""
    from_env = env.get("STATE_DIRECTORY", "").split(":")[0]
    if from_env:
        return Path(from_env)
    return configured if configured is not None else DEFAULT_STATE_DIR


def prepare_state_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that it is writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StateDirError(
            f"state directory {path} is not writable ({exc.strerror}); set state_dir in the "
            "config or the STATE_DIRECTORY environment variable to a writable folder"
        ) from None
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a power cut leaves the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
