"""``edge fleet web``: the fleet dashboard (devices, expression shares and faces over time
per site and per device, CSV/JSON export).

It reads only the registry and the roll-ups. Shares come from the roll-ups' sums over
published windows (each of which reached k faces), so no view shows a share computed from a
suppressed window (k-anonymity holds here as on the device). Binds 127.0.0.1 by default;
any other address needs a token (``--token-file``).
"""

from __future__ import annotations

import argparse
import logging
import threading
from datetime import datetime
from http import HTTPStatus
from typing import Any

from edge.cli.common import UsageError, install_stop_handlers
from edge.types import EXPRESSIONS
from edge.web import (
    HttpError,
    Request,
    Response,
    Router,
    TokenGate,
    WebServer,
    attachment,
    csv_response,
    is_loopback,
    json_response,
)
from edge.web.server import static_file

log = logging.getLogger(__name__)

DEVICES_SQL = """
SELECT d.device, d.site, d.status, d.status_at, d.last_seen, d.last_window_end,
       d.camera_state, d.outbox_depth, d.outbox_dropped, d.soc_temp_c, d.windows,
       coalesce((SELECT sum(e.max_seq - e.min_seq + 1 - e.windows) FROM device_epochs e
                 WHERE e.device = d.device), 0)::bigint AS missing
FROM devices d ORDER BY d.site NULLS LAST, d.device
"""
_SUMS = ", ".join(f"sum(r.{e}_w)" for e in (*EXPRESSIONS, "valence"))
SERIES_SQL = """
SELECT r.bucket, sum(r.windows), sum(r.suppressed_windows), sum(r.faces), sum(r.weight), {sums}
FROM {table} r LEFT JOIN devices d ON d.device = r.device
WHERE r.bucket >= now() - make_interval(hours => %(hours)s)
  AND (%(site)s::text IS NULL OR d.site = %(site)s)
  AND (%(device)s::text IS NULL OR r.device = %(device)s)
GROUP BY r.bucket ORDER BY r.bucket
"""
#: Static files (and the page) may be cached this long.
CACHE = "max-age=300"
UNITS = {"hour": ("rollup_hourly", 48), "day": ("rollup_daily", 24 * 60)}
SERIES_FIELDS = ("bucket", "windows", "suppressed_windows", "faces", *EXPRESSIONS, "valence")


class Dashboard:
    """Handlers over one DSN; each request opens its own short connection."""

    def __init__(self, dsn: str, password: str | None = None, timeout_s: int = 10) -> None:
        self._dsn = dsn
        self._password = password
        self._timeout_s = timeout_s
        self.router = Router()
        self.router.add("GET", "/", self.index)
        self.router.add("GET", "/api/devices", self.devices)
        self.router.add("GET", "/api/sites", self.sites)
        self.router.add("GET", "/api/series", self.series)
        self.router.add("GET", "/api/export", self.export)
        self.router.static("/static/", "edge.fleet", "static", cache=CACHE)

    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        import psycopg

        kwargs: dict[str, Any] = {"connect_timeout": self._timeout_s}
        if self._password is not None:
            kwargs["password"] = self._password
        options = f"-c statement_timeout={self._timeout_s * 1000} -c TimeZone=UTC"
        try:
            with psycopg.connect(self._dsn, autocommit=True, options=options, **kwargs) as conn:
                return conn.execute(sql, args).fetchall()
        except psycopg.OperationalError as exc:
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "database unavailable") from exc

    def index(self, _request: Request) -> Response:
        return static_file("edge.fleet", "static", "index.html", cache=CACHE)

    def devices(self, _request: Request) -> Response:
        names = ("device", "site", "status", "status_at", "last_seen", "last_window_end",
                 "camera_state", "outbox_depth", "outbox_dropped", "soc_temp_c", "windows",
                 "missing")
        rows = [dict(zip(names, row, strict=True)) for row in self._query(DEVICES_SQL)]
        return json_response({"devices": rows}, default=str)

    def sites(self, _request: Request) -> Response:
        rows = self._query("SELECT site FROM sites ORDER BY site")
        return json_response({"sites": [r[0] for r in rows]})

    def rows(self, request: Request) -> list[dict[str, Any]]:
        """The series the query asks for: per bucket, counts and the shares of published
        windows (null where the bucket has none)."""
        unit = request.query.get("unit", "hour")
        if unit not in UNITS:
            raise HttpError(HTTPStatus.BAD_REQUEST, "unit must be hour or day")
        table, default_hours = UNITS[unit]
        try:
            hours = int(request.query.get("hours", default_hours))
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "hours must be a whole number") from None
        if not 1 <= hours <= 24 * 3660:
            raise HttpError(HTTPStatus.BAD_REQUEST, "hours must be 1..87840")
        args = {"hours": hours, "site": request.query.get("site") or None,
                "device": request.query.get("device") or None}
        out = []
        for bucket, windows, suppressed, faces, weight, *sums in self._query(
            SERIES_SQL.format(sums=_SUMS, table=table), args
        ):
            shares = [None if not weight else round(s / weight, 4) for s in sums]
            out.append(dict(zip(SERIES_FIELDS, (bucket.isoformat(), int(windows),
                                                int(suppressed), int(faces), *shares),
                                strict=True)))
        return out

    def series(self, request: Request) -> Response:
        return json_response({"series": self.rows(request)})

    def export(self, request: Request) -> Response:
        rows = self.rows(request)
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        if request.query.get("format", "csv") == "json":
            return json_response({"series": rows}, default=str,
                                 headers=(attachment(f"fleet-{stamp}.json"),))
        return csv_response(SERIES_FIELDS, rows, (attachment(f"fleet-{stamp}.csv"),))


def parse_listen(value: str) -> tuple[str, int]:
    """``ADDR:PORT`` (port 0: any free one); a :class:`UsageError` otherwise."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {value!r}: expected ADDR:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def serve(args: argparse.Namespace) -> int:
    from edge.fleet.cli import read_secret

    host, port = parse_listen(args.listen)
    token = read_secret(args.token_file, "web_token", "--token-file")
    if token is None and not is_loopback(host):
        raise UsageError(
            f"--listen {args.listen}: off loopback the dashboard needs a token; pass "
            "--token-file FILE (or the systemd credential web_token)"
        )
    password = read_secret(None, "db_password", "$CREDENTIALS_DIRECTORY/db_password")
    dashboard = Dashboard(args.dsn, password)
    try:
        server = WebServer(dashboard.router, TokenGate(token), host, port)
    except OSError as exc:
        raise UsageError(f"--listen {args.listen}: cannot listen ({exc.strerror})") from None
    stop = threading.Event()
    install_stop_handlers(stop)
    with server:
        bound_port = server.address[1]
        log.info("dashboard on http://%s:%d/%s", host, bound_port,
                 " (token required)" if token else "")
        print(f"dashboard: http://{host}:{bound_port}/", flush=True)
        stop.wait()
    return 0
