"""A router on ``http.server.ThreadingHTTPServer``, two gates behind one protocol (the setup
view's single-client :class:`SessionGate`, the fleet dashboard's many-client
:class:`TokenGate`) and a deadline; the server is a context manager and every socket
operation has a timeout.

Requests and responses are small frozen dataclasses; handlers are plain functions
``Request -> Response`` that raise :class:`HttpError` for a client mistake. Static files come
from a package folder through :mod:`importlib.resources` (nothing from the internet).
"""

from __future__ import annotations

import csv
import hmac
import io
import ipaddress
import json
import logging
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

#: Largest request body read (a setup save is a few KB).
MAX_BODY = 256 * 1024
#: Seconds a client socket may stay silent before the server drops it.
SOCKET_TIMEOUT_S = 10.0
COOKIE = "edge_session"
#: The cookie :class:`TokenGate` sets after a valid ``?token=``.
TOKEN_COOKIE = "edge_token"


class HttpError(Exception):
    """A request the server refuses: status and a message for the person using the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client: str

    def json(self) -> Any:
        """The body as JSON; a 400 naming the problem otherwise."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"the request body is not JSON: {exc}") from None

    def cookie(self, name: str) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is treated as none
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None else None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(document: Any, status: int = 200, *,
                  default: Callable[[Any], Any] | None = None,
                  headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """``document`` as JSON; ``default`` as in :func:`json.dumps` (e.g. ``str`` for dates)."""
    body = json.dumps(document, default=default).encode("utf-8")
    return Response(status, body, "application/json", headers)


def csv_response(fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]],
                 headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """Rows as CSV with a header line (``\\n`` line ends, UTF-8)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(200, buf.getvalue().encode("utf-8"), "text/csv; charset=utf-8", headers)


def attachment(filename: str) -> tuple[str, str]:
    """The header that makes a browser save the response as ``filename``."""
    return ("Content-Disposition", f'attachment; filename="{filename}"')


Handler = Callable[[Request], Response]


@dataclass
class Router:
    """Exact (method, path) routes plus static folders under a URL prefix."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    statics: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def static(self, prefix: str, package: str, folder: str, *,
               cache: str = "no-cache") -> None:
        """Serve ``package/folder/NAME`` at ``prefix + NAME`` (sub-folders allowed; no
        ``..``, empty or hidden parts) with ``Cache-Control: cache``."""
        self.statics.append((prefix, package, folder, cache))

    def dispatch(self, request: Request) -> Response:
        handler = self.routes.get((request.method, request.path))
        if handler is not None:
            return handler(request)
        if request.method == "GET":
            for prefix, package, folder, cache in self.statics:
                if request.path.startswith(prefix):
                    return static_file(package, folder, request.path.removeprefix(prefix),
                                       cache=cache)
        if any(path == request.path for _m, path in self.routes):
            raise HttpError(405, f"{request.method} is not allowed on {request.path}")
        raise HttpError(404, f"nothing at {request.path}")


def static_file(package: str, folder: str, name: str, *, cache: str = "no-cache") -> Response:
    """``package/folder/name`` (``name`` may hold ``/``; no part empty, ``..`` or hidden)."""
    parts = name.split("/")
    if any(not part or part.startswith(".") for part in parts):
        raise HttpError(404, f"no file {name!r}")
    entry = resources.files(package).joinpath(folder, *parts)
    if not entry.is_file():
        raise HttpError(404, f"no file {name!r}")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("javascript"):
        kind += "; charset=utf-8"
    return Response(200, entry.read_bytes(), kind, (("Cache-Control", cache),))


class Gate(Protocol):
    """What the server asks of a gate: its token (``None``: none required, so the server
    accepts only this machine's host names) and, per request, the headers to add or an
    :class:`HttpError` refusing it."""

    @property
    def token(self) -> str | None: ...

    def admit(self, request: Request) -> tuple[tuple[str, str], ...]: ...


class SessionGate:
    """One client at a time. The first request with the token (or any request when no token
    is required) opens a session, remembered by a cookie; another browser is refused (409)
    until that session has been idle for ``idle_s``. Without the token: 403."""

    def __init__(self, token: str | None, *, idle_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token = token
        self._idle_s = idle_s
        self._clock = clock
        self._lock = threading.Lock()
        self._session: str | None = None
        self._client: str | None = None
        self._seen = 0.0

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(18)

    def admit(self, request: Request) -> tuple[tuple[str, str], ...]:
        """Headers to add (a new session's cookie), or raise 403/409."""
        now = self._clock()
        cookie = request.cookie(COOKIE)
        with self._lock:
            if cookie is not None and self._session is not None and hmac.compare_digest(
                cookie, self._session
            ):
                self._seen = now
                return ()
            given = request.query.get("token", "")
            if self.token is not None and not hmac.compare_digest(given, self.token):
                raise HttpError(403, "the token is missing or wrong: open the URL that "
                                "`edge setup` printed, with its ?token=...")
            if self._session is not None and now - self._seen < self._idle_s:
                raise HttpError(409, f"another client ({self._client}) is using the setup "
                                f"view; it is freed {self._idle_s:g} s after its last request")
            self._session = secrets.token_urlsafe(18)
            self._client, self._seen = request.client, now
            log.info("web: client %s opened the session", request.client)
            cookie_value = f"{COOKIE}={self._session}; Path=/; HttpOnly; SameSite=Strict"
            return (("Set-Cookie", cookie_value),)


class TokenGate:
    """Any number of clients, each with the token (or anyone when ``token`` is ``None``):
    ``Authorization: Bearer TOKEN``, or ``?token=TOKEN`` (which sets an HttpOnly,
    SameSite=Strict cookie), or that cookie. A header or query token wins over the cookie.
    Without a valid one: 401."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def admit(self, request: Request) -> tuple[tuple[str, str], ...]:
        if self.token is None:
            return ()
        given = request.query.get("token")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            given = auth.removeprefix("Bearer ")
        if given is None:
            given = request.cookie(TOKEN_COOKIE)
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            raise HttpError(401, "a valid token is required (?token=...)")
        if "token" in request.query:
            return (("Set-Cookie",
                     f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"),)
        return ()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (any 127.x, ``::1``) or ``localhost``."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = SOCKET_TIMEOUT_S
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.client_address[0], format % args)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit() or int(length_text) > MAX_BODY:
            self.close_connection = True
            self._send(json_response({"error": "missing, bad or too large body length"}, 413))
            return
        length = int(length_text)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=str(self.client_address[0]),
        )
        try:
            same_origin(request, self.server.hosts)
            extra = self.server.gate.admit(request)
            response = self.server.router.dispatch(request)
            response = Response(response.status, response.body, response.content_type,
                                (*response.headers, *extra))
        except HttpError as exc:
            response = json_response({"error": exc.message}, exc.status)
        except Exception:
            log.exception("web: %s %s failed", method, parts.path)
            response = json_response({"error": "internal error (see the log)"}, 500)
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status, HTTPStatus(response.status).phrase)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


#: Host names a browser uses for this machine through an SSH tunnel (any port).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def same_origin(request: Request, hosts: frozenset[str] | None) -> None:
    """Refuse what a foreign web page could make the browser send: a ``Host`` that is not
    this machine's address (DNS rebinding), and a POST that is not JSON or comes from
    another origin (cross-site request forgery)."""
    host = _host_name(request.headers.get("host", ""))
    if hosts is not None and host not in hosts:
        raise HttpError(421, f"unexpected Host {host!r}: open the address edge setup printed")
    if request.method == "POST":
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise HttpError(415, "send JSON (Content-Type: application/json)")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != request.headers.get(
            "host", ""
        ).lower():
            raise HttpError(403, "a request from another web page is refused")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    router: Router
    gate: Gate
    hosts: frozenset[str] | None


class WebServer:
    """The HTTP server on its own thread, until ``deadline_s`` (monotonic) or ``stop``."""

    def __init__(self, router: Router, gate: Gate, host: str, port: int) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.router = router
        self._server.gate = gate
        bound = host if ":" not in host else f"[{host}]"
        # Without a token only this machine's names are accepted (no DNS rebinding); with a
        # token any name is (a LAN address, a phone), as a foreign page cannot know it.
        self._server.hosts = None if gate.token else LOCAL_HOSTS | {bound.lower()}
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.25},
            name="web", daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def __enter__(self) -> WebServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()  # returns within poll_interval
        self._thread.join(timeout=5.0)
        self._server.server_close()


def wait_until(deadline: float, stop: threading.Event,
               clock: Callable[[], float] = time.monotonic) -> Iterator[float]:
    """Yield the seconds left about once a second until ``deadline`` or ``stop``."""
    while not stop.is_set():
        left = deadline - clock()
        if left <= 0:
            return
        yield left
        stop.wait(min(1.0, left))
