"""The PostgreSQL side: migrations, partitions, retention and the batch transaction.

One connection per collector; every statement has a timeout (``statement_timeout``), and
:meth:`Store.write` commits a whole batch (windows, roll-ups, registry, dead letters) in one
transaction, so a batch is either stored completely or not at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from edge.fleet.rows import Batch, day_of
from edge.types import EXPRESSIONS

log = logging.getLogger(__name__)

#: Days of partitions created ahead of today.
AHEAD_DAYS = 2
_SHARES = ", ".join(EXPRESSIONS)
_COLUMNS = (
    "device text, epoch text, seq bigint, window_start timestamptz, window_end timestamptz, "
    "duration_s real, faces integer, mean_faces_present real, median_dwell_s real, "
    + ", ".join(f"{e} real" for e in EXPRESSIONS)
    + ", dominant text, dominant_counts jsonb, valence real, confidence real, frames integer, "
    "suppressed boolean, partial boolean, historical boolean, camera_lost_s real, "
    "dp_epsilon real, model_detector text, model_classifier text"
)
_NAMES = ", ".join(c.split()[0] for c in _COLUMNS.split(", "))
_WEIGHT = "greatest(mean_faces_present, 0) * duration_s"


def _rollup(table: str, unit: str) -> str:
    sums = ", ".join(
        f"sum(CASE WHEN suppressed THEN 0 ELSE {_WEIGHT} * coalesce({e}, 0) END)"
        for e in (*EXPRESSIONS, "valence")
    )
    cols = ", ".join(f"{e}_w" for e in (*EXPRESSIONS, "valence"))
    updates = ", ".join(
        f"{c} = t.{c} + excluded.{c}"
        for c in ("windows", "suppressed_windows", "faces", "frames", "seconds",
                  "camera_lost_s", "weight", *(f"{e}_w" for e in (*EXPRESSIONS, "valence")))
    )
    return f"""
    {table}_up AS (
        INSERT INTO {table} AS t (device, bucket, windows, suppressed_windows, faces, frames,
            seconds, camera_lost_s, weight, {cols})
        SELECT device, date_trunc('{unit}', window_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
            count(*), count(*) FILTER (WHERE suppressed), sum(faces), sum(frames),
            sum(duration_s), sum(coalesce(camera_lost_s, 0)),
            sum(CASE WHEN suppressed THEN 0 ELSE {_WEIGHT} END), {sums}
        FROM ins GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (device, bucket) DO UPDATE SET {updates}
    )"""


INSERT_WINDOWS = f"""
WITH src AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s) AS r({_COLUMNS})
), ins AS (
    INSERT INTO emotion_windows ({_NAMES})
    SELECT {_NAMES} FROM src ORDER BY device, epoch, seq
    ON CONFLICT DO NOTHING
    RETURNING device, epoch, seq, window_start, window_end, duration_s, faces, frames,
        mean_faces_present, suppressed, camera_lost_s, {_SHARES}, valence
), {_rollup("rollup_hourly", "hour")}, {_rollup("rollup_daily", "day")},
epochs AS (
    INSERT INTO device_epochs AS t (device, epoch, min_seq, max_seq, windows)
    SELECT device, epoch, min(seq), max(seq), count(*) FROM ins GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (device, epoch) DO UPDATE SET min_seq = least(t.min_seq, excluded.min_seq),
        max_seq = greatest(t.max_seq, excluded.max_seq), windows = t.windows + excluded.windows
), dev AS (
    INSERT INTO devices AS t (device, last_seen, last_window_end, windows)
    SELECT device, now(), max(window_end), count(*) FROM ins GROUP BY 1 ORDER BY 1
    ON CONFLICT (device) DO UPDATE SET last_seen = now(),
        last_window_end = greatest(t.last_window_end, excluded.last_window_end),
        windows = t.windows + excluded.windows
)
SELECT count(*) FROM ins
"""

UPSERT_STATUS = """
INSERT INTO devices AS t (device, last_seen, status, status_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (device) DO UPDATE SET status = excluded.status, status_at = excluded.status_at,
    last_seen = greatest(t.last_seen, excluded.last_seen)
"""

UPSERT_TELEMETRY = """
INSERT INTO devices AS t (device, last_seen, camera_state, outbox_depth, outbox_dropped,
    soc_temp_c, telemetry_at) VALUES (%s, now(), %s, %s, %s, %s, %s)
ON CONFLICT (device) DO UPDATE SET last_seen = now(), camera_state = excluded.camera_state,
    outbox_depth = excluded.outbox_depth, outbox_dropped = excluded.outbox_dropped,
    soc_temp_c = excluded.soc_temp_c, telemetry_at = excluded.telemetry_at
WHERE t.telemetry_at IS NULL OR excluded.telemetry_at >= t.telemetry_at
"""

INSERT_DEAD = """
INSERT INTO dead_letters (topic, reason, detail, size, digest, payload_head)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (topic, digest) DO NOTHING
"""


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every shipped migration, in order."""
    folder = resources.files("edge.fleet").joinpath("sql")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text("utf-8")))
    return sorted(found)


def partition_name(day: datetime) -> str:
    return f"emotion_windows_p{day:%Y%m%d}"


class Store:
    """A collector's database connection. Raises ``psycopg.OperationalError`` (and its
    subclasses) when the server is unreachable; the caller backs off and retries."""

    def __init__(
        self,
        dsn: str,
        *,
        password: str | None = None,
        retention_days: int = 0,
        timeout_s: float = 10.0,
    ) -> None:
        kwargs: dict[str, Any] = {"connect_timeout": max(1, int(timeout_s))}
        if password is not None:
            kwargs["password"] = password
        options = f"-c statement_timeout={int(timeout_s * 1000)} -c TimeZone=UTC"
        self.conn = psycopg.connect(dsn, autocommit=True, options=options, **kwargs)
        self.retention_days = retention_days
        self._partitions: set[str] = set()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded in ``schema_migrations`` (one transaction
        each, serialised between collectors by an advisory lock); the versions applied."""
        applied: list[int] = []
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(202026)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = self.conn.execute("SELECT version FROM schema_migrations").fetchall()
            done = {int(r[0]) for r in rows}
            for version, name, sql in migrations():
                if version in done:
                    continue
                self.conn.execute(sql.encode())
                self.conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                applied.append(version)
        return applied

    def ensure_partitions(self, days: set[datetime]) -> None:
        """Create the daily partitions of ``days`` that do not exist yet."""
        missing = {d for d in days if partition_name(d) not in self._partitions}
        if not missing:
            return
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(202027)")
            for day in sorted(missing):
                name = partition_name(day)
                self.conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF emotion_windows "
                    f"FOR VALUES FROM ('{day:%Y-%m-%d}') TO ('{day + timedelta(days=1):%Y-%m-%d}')"
                )
        self._partitions |= {partition_name(d) for d in missing}

    def maintain(self, now: datetime) -> list[str]:
        """Partitions for today and the next days; drop those past retention (names)."""
        today = day_of(now)
        self.ensure_partitions({today + timedelta(days=n) for n in range(AHEAD_DAYS + 1)})
        if not self.retention_days:
            return []
        cutoff = today - timedelta(days=self.retention_days)
        dropped = []
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(202027)")
            rows = self.conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'emotion_windows'::regclass"
            ).fetchall()
            for (name,) in rows:
                day = datetime.strptime(name[-8:], "%Y%m%d").replace(tzinfo=UTC)
                if day < cutoff:
                    self.conn.execute(f"DROP TABLE {name}")
                    dropped.append(name)
        self._partitions -= set(dropped)
        return dropped

    def assign_sites(self, sites: dict[str, list[str]]) -> None:
        """Register sites and their devices (from the config)."""
        with self.conn.transaction():
            for site, devices in sites.items():
                self.conn.execute(
                    "INSERT INTO sites (site, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (site, site),
                )
                for device in devices:
                    self.conn.execute(
                        "INSERT INTO devices (device, site) VALUES (%s, %s) "
                        "ON CONFLICT (device) DO UPDATE SET site = excluded.site",
                        (device, site),
                    )

    # -- the batch ---------------------------------------------------------------------
    def write(self, batch: Batch) -> int:
        """Store a batch in one transaction; the number of windows that were new."""
        self.ensure_partitions(batch.days)
        inserted = 0
        with self.conn.transaction():
            if batch.windows:
                row = self.conn.execute(INSERT_WINDOWS, {"rows": Jsonb(batch.windows)}).fetchone()
                inserted = int(row[0]) if row else 0
            with self.conn.cursor() as cur:
                for s in batch.status.values():
                    cur.execute(UPSERT_STATUS, (s.device, s.at, s.status, s.at))
                for t in batch.telemetry.values():
                    cur.execute(
                        UPSERT_TELEMETRY,
                        (t.device, t.camera_state, t.outbox_depth, t.outbox_dropped,
                         t.soc_temp_c, t.at),
                    )
                for d in batch.dead:
                    values = (d.topic, d.reason, d.detail, d.size, d.digest, d.head)
                    cur.execute(INSERT_DEAD, values)
        return inserted
