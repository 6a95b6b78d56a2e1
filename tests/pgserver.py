"""A real PostgreSQL server for tests: Debian's ``initdb`` in a temporary directory and
``postgres`` on a free loopback port. PostgreSQL refuses to run as root, so as root (CI) it
runs as ``nobody`` (the directory is created outside pytest's root-only tmp tree and handed
to that user)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("EDGE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = "nobody"


def _as_user(cmd: list[str]) -> list[str]:
    """``cmd`` as the unprivileged user when we are root; setpriv execs (no process in
    between), so signals reach postgres itself."""
    if os.geteuid() != 0:
        return cmd
    user = pwd.getpwnam(RUN_AS)
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            "--", *cmd]


@dataclass
class PgServer:
    """A postgres process on 127.0.0.1:port (trust auth, user ``postgres``) that tests may
    stop and start again; the data survives a stop."""

    port: int
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="edge-pg-")))
    proc: subprocess.Popen[bytes] | None = None
    #: Tests trade durability for speed; a benchmark passes durable=True (fsync on).
    durable: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"{PG_BIN}/initdb is missing: apt-get install postgresql")
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        res = subprocess.run(
            _as_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
            capture_output=True, text=True, timeout=120,
        )
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stdout}{res.stderr}")

    def start(self, timeout_s: float = 30.0) -> None:
        log = (self.root / "postgres.log").open("ab")
        self.proc = subprocess.Popen(
            _as_user([str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                      "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                      *([] if self.durable else ["-c", "fsync=off", "-c",
                                                 "full_page_writes=off"])]),
            stdout=log, stderr=log,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_tail()}")
            res = subprocess.run(
                [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True, timeout=10,
            )
            if res.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"postgres did not become ready: {self.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster: clients are disconnected)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self) -> str:
        try:
            return (self.root / "postgres.log").read_text()[-2000:]
        except OSError:
            return ""

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
