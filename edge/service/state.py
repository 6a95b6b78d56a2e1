"""The state directory (outbox, remote-pause flag), its single-owner lock, atomic writes, and
the file-based ``seq`` store of earlier versions (the outbox migrates it)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


LOCK_NAME = "edge.lock"


def lock_holder(path: Path) -> str | None:
    """The pid written in ``<path>/edge.lock`` while another process holds it, else None
    (also when the lock cannot be opened: nothing can hold what cannot be read)."""
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
    finally:
        os.close(fd)
    return None


@contextmanager
def exclusive_state_dir(path: Path) -> Iterator[Path]:
    """Hold ``<path>/edge.lock`` (``flock``) while the block runs; refuse a second owner.

    Two services sharing one outbox would send each window twice and hand out ``seq`` twice, so
    a second ``edge run`` on the same state directory stops at once with the first one's pid.
    The kernel drops the lock when the process dies, so a crash or power cut leaves no stale
    lock behind.
    """
    lock_path = path / LOCK_NAME
    created = not lock_path.exists()
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StateDirError(
                f"state directory {path} is in use by another edge process (pid {owner}); stop "
                "it first, or give this one its own state_dir (or STATE_DIRECTORY)"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            import shutil

            free = shutil.disk_usage(path).free
            if created:  # "nothing in it was changed": not even an empty lock file
                lock_path.unlink(missing_ok=True)
            raise StateDirError(
                f"state directory {path} cannot be written ({exc.strerror}; {free} bytes free): "
                "free space on that file system, or point state_dir (or STATE_DIRECTORY) at a "
                "folder with room, then start again; nothing in it was changed"
            ) from None
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the flock


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
