"""What a failed outbox write means, in words: the SQLite error, its code, and the free space.

Pure apart from :func:`free_bytes` (one ``statvfs``). The outbox uses these to log the real
cause of a refused commit (``database or disk is full``, an I/O error) instead of a follow-on
error, and to tell a merely full disk from a damaged database at start-up.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

log = logging.getLogger("edge.publish.outbox")

#: Below this many free bytes a failed write is taken as a full disk whatever SQLite said.
NEARLY_FULL_BYTES = 64 * 1024

#: SQLite result codes (primary names) that mean the file itself is damaged or not ours.
DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def free_bytes(path: Path) -> int | None:
    """Free bytes on the file system holding ``path`` (its folder when it does not exist)."""
    probe = path if path.is_dir() else path.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def human_bytes(value: int | None) -> str:
    if value is None:
        return "unknown"
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} bytes"


def error_code(exc: BaseException) -> str:
    """``SQLITE_FULL``, ``SQLITE_IOERR_WRITE``, ... or the exception type for anything else."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(exc, OSError) and exc.errno is not None:
        import errno

        return errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    return type(exc).__name__


def is_disk_full(exc: BaseException, free: int | None) -> bool:
    """A full file system: SQLite's ``SQLITE_FULL``, ``ENOSPC``, or next to no free space."""
    code = error_code(exc)
    if code.startswith("SQLITE_FULL") or code in {"ENOSPC", "EDQUOT"}:
        return True
    return free is not None and free < NEARLY_FULL_BYTES


def _sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def present_files(path: Path) -> set[Path]:
    """Which of the database ``path`` and its ``-wal``/``-shm`` files exist now."""
    return {file for file in _sqlite_files(path) if file.exists()}


def remove_new_files(path: Path, before: set[Path]) -> None:
    """Remove the database files a failed open created (on a full disk SQLite leaves empty
    ``outbox.db``, ``-wal`` and ``-shm`` behind); files that existed before are kept."""
    for file in _sqlite_files(path):
        if file not in before:
            file.unlink(missing_ok=True)


def is_damaged(exc: BaseException) -> bool:
    return error_code(exc).split("_")[0:2] in (["SQLITE", "CORRUPT"], ["SQLITE", "NOTADB"])


def describe(exc: BaseException, path: Path) -> str:
    """One line: the error, its code and the free space where ``path`` lives."""
    return f"{exc} [{error_code(exc)}], {human_bytes(free_bytes(path))} free on {path.parent}"


def startup_error(exc: BaseException, path: Path) -> str:
    """The message for an outbox that cannot be opened: what happened, where, what to do."""
    free = free_bytes(path)
    where = path.parent
    existing = path.exists() and path.stat().st_size > 0
    if is_disk_full(exc, free):
        kept = (
            "the outbox file is left untouched and its undelivered windows are sent once it "
            "can be written"
            if existing
            else "nothing was written"
        )
        return (
            f"state directory {where} is full ({human_bytes(free)} free; SQLite: {exc} "
            f"[{error_code(exc)}]): free space on that file system, or point state_dir (or "
            f"STATE_DIRECTORY) at a folder with room, then start again; {kept}"
        )
    if isinstance(exc, sqlite3.DatabaseError) and is_damaged(exc):
        return (
            f"outbox {path} is damaged ({exc} [{error_code(exc)}]); move it aside (its "
            "undelivered windows are lost and seq starts again at 1) and start again"
        )
    return (
        f"outbox {path} cannot be used ({exc} [{error_code(exc)}], {human_bytes(free)} free "
        f"on {where}); check the folder's permissions and the disk (dmesg), the file is left "
        "as it is"
    )


class FaultLog:
    """The outbox's write faults, logged once per change of state (not once per window)."""

    def __init__(self, path: Path, capacity: int) -> None:
        self._path = path
        self._capacity = capacity
        #: The error code of the current fault; None while writes succeed.
        self.fault: str | None = None
        self.drops = 0

    def failed(self, exc: BaseException, seq: int | None, waiting: int, retry_s: float) -> None:
        code = error_code(exc)
        if code == self.fault:
            return
        self.fault = code
        log.error(
            "outbox: cannot commit window seq=%s to %s: %s; it waits in memory (%d window(s), "
            "at most %d) and is retried every %g s, in order, with the same seq; free space "
            "there or fix the disk (nothing is published until it is committed)",
            seq,
            self._path,
            describe(exc, self._path),
            waiting,
            self._capacity,
            retry_s,
        )

    def dropped(self, seq: int | None, waiting: int) -> None:
        self.drops += 1
        if self.drops == 1:
            log.error(
                "outbox: %d window(s) wait in memory for %s, the most it holds: dropped the "
                "oldest, seq=%s (counted as dropped.write_error; later ones are counted without "
                "a log line); free space there",
                waiting,
                self._path.parent,
                seq,
            )

    def recovered(self, first: int | None, last: int | None, count: int) -> None:
        if self.fault is None:
            return
        log.warning(
            "outbox: %s accepts writes again; %d window(s) from memory committed in order "
            "(seq %s..%s), %d dropped while it refused them",
            self._path,
            count,
            first,
            last,
            self.drops,
        )
        self.fault = None
        self.drops = 0

    def lost_at_stop(self, seqs: list[int | None], count_saved: bool) -> None:
        log.error(
            "outbox: %d window(s) (seq %s..%s) were never accepted by the disk at %s and are "
            "lost with this stop (%s); free space there",
            len(seqs),
            seqs[0],
            seqs[-1],
            self._path,
            "counted as dropped.write_error" if count_saved else "the count could not be saved",
        )
