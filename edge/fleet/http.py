"""A small HTTP layer on the standard library (``ThreadingHTTPServer``): a router of
``(method, path) -> handler``, static files from a package folder, JSON/CSV responses and an
access token. Nothing here knows the fleet: it is meant to be shared with the device's setup
page (``edge/web/``) once both exist.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

TOKEN_COOKIE = "edge_token"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """A client error: the status and a one-line message sent back as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(document: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(document, default=str).encode())


Handler = Callable[[Request], Response]


class Router:
    """Exact-path routes plus static files under ``/static/`` from a package folder."""

    def __init__(self, static_package: str, static_folder: str = "static") -> None:
        self._routes: dict[tuple[str, str], Handler] = {}
        self._static = resources.files(static_package).joinpath(static_folder)

    def get(self, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes[("GET", path)] = handler
            return handler

        return register

    def dispatch(self, request: Request) -> Response:
        handler = self._routes.get((request.method, request.path))
        if handler is not None:
            return handler(request)
        if request.method == "GET" and request.path.startswith("/static/"):
            return self.static(request.path.removeprefix("/static/"))
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such page: {request.path}")

    def static(self, name: str) -> Response:
        parts = name.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise HttpError(HTTPStatus.NOT_FOUND, "no such file")
        entry = self._static.joinpath(*parts)
        if not entry.is_file():
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such file: {name}")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return Response(200, entry.read_bytes(), kind, {"Cache-Control": "max-age=300"})


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def make_server(host: str, port: int, router: Router, token: str | None) -> ThreadingHTTPServer:
    """A threading server; with a token every request must carry it (``Authorization:
    Bearer``, the ``token`` query parameter, which sets a cookie, or that cookie)."""

    class _Handler(BaseHTTPRequestHandler):
        server_version = "edge-fleet"
        timeout = 30  # a client that sends nothing is dropped

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request("GET", url.path, query, headers)
            extra: dict[str, str] = {}
            try:
                if token is not None:
                    extra = _check_token(request, token)
                response = router.dispatch(request)
            except HttpError as exc:
                response = json_response({"error": str(exc)}, exc.status)
            except Exception:
                log.exception("request %s failed", url.path)
                response = json_response({"error": "internal error (see the log)"}, 500)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for key, value in {**response.headers, **extra}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), _Handler)


def _check_token(request: Request, token: str) -> dict[str, str]:
    """Headers to add (a cookie when the token came as a query parameter); raises 401."""
    given = request.query.get("token")
    auth = request.headers.get("authorization", "")
    if auth.startswith("Bearer "):
        given = auth.removeprefix("Bearer ")
    cookies = request.headers.get("cookie", "")
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE and given is None:
            given = value
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "a valid token is required (?token=...)")
    if "token" in request.query:
        return {"Set-Cookie": f"{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"}
    return {}
