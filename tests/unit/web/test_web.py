"""edge.web: router, one-client session gate with a token, static files, JSON errors, on a
real ThreadingHTTPServer on a free loopback port; and the rule that device code never
imports a fleet package."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from edge.web import HttpError, Request, Router, SessionGate, WebServer, json_response


def _echo(request: Request) -> object:
    body = request.json()
    if body.get("fail"):
        raise HttpError(400, "asked to fail")
    return json_response({"got": body, "client": request.client})


@pytest.fixture
def server() -> Iterator[tuple[WebServer, SessionGate]]:
    router = Router()
    router.add("GET", "/hello", lambda _r: json_response({"hello": "world"}))
    router.add("POST", "/echo", _echo)  # type: ignore[arg-type]
    router.static("/static/", "edge.installer", "static")
    gate = SessionGate("s3cret", idle_s=30.0)
    with WebServer(router, gate, "127.0.0.1", 0) as web:
        yield web, gate


def _get(web: WebServer, path: str, cookie: str | None = None,
         method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = web.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_token_opens_one_session_and_refuses_others(
    server: tuple[WebServer, SessionGate]
) -> None:
    """Without the token: 403 with a hint; with it: 200 and a session cookie that works
    alone afterwards; a second client with the token while the first is active: 409."""
    web, _gate = server
    status, _h, body = _get(web, "/hello")
    assert status == 403 and b"token" in body
    status, _h, _b = _get(web, "/hello?token=wrong")
    assert status == 403
    status, headers, body = _get(web, "/hello?token=s3cret")
    assert status == 200 and json.loads(body) == {"hello": "world"}
    cookie = headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in headers["set-cookie"]
    assert _get(web, "/hello", cookie)[0] == 200
    status, _h, body = _get(web, "/hello?token=s3cret")
    assert status == 409 and b"another client" in body


def test_idle_session_is_freed() -> None:
    """After idle_s without a request the session is given to the next client with the
    token (time comes from the injected clock)."""
    now = [0.0]
    gate = SessionGate("t", idle_s=30.0, clock=lambda: now[0])
    first = Request("GET", "/", {"token": "t"}, {}, b"", "10.0.0.1")
    assert gate.admit(first)
    with pytest.raises(HttpError) as info:
        gate.admit(Request("GET", "/", {"token": "t"}, {}, b"", "10.0.0.2"))
    assert info.value.status == 409
    now[0] = 31.0
    assert gate.admit(Request("GET", "/", {"token": "t"}, {}, b"", "10.0.0.2"))


def test_router_json_static_and_errors(server: tuple[WebServer, SessionGate]) -> None:
    """POST JSON is echoed; a handler's HttpError and bad JSON are JSON errors with their
    status; unknown paths 404, a wrong method 405; static files come from the package with
    a content type, and '..' or hidden names are refused."""
    web, _gate = server
    cookie = _get(web, "/hello?token=s3cret")[1]["set-cookie"].split(";")[0]
    status, _h, body = _get(web, "/echo", cookie, "POST", b'{"a": 1}')
    assert status == 200 and json.loads(body)["got"] == {"a": 1}
    status, _h, body = _get(web, "/echo", cookie, "POST", b'{"fail": true}')
    assert status == 400 and json.loads(body) == {"error": "asked to fail"}
    status, _h, body = _get(web, "/echo", cookie, "POST", b"{nope")
    assert status == 400 and "not JSON" in json.loads(body)["error"]
    assert _get(web, "/nothing", cookie)[0] == 404
    assert _get(web, "/echo", cookie)[0] == 405
    status, headers, body = _get(web, "/static/setup.js", cookie)
    assert status == 200 and headers["content-type"].endswith("javascript; charset=utf-8")
    assert b"/api/save" in body
    assert _get(web, "/static/../cli.py", cookie)[0] == 404
    assert _get(web, "/static/.hidden", cookie)[0] == 404


def _raw(web: WebServer, path: str, headers: dict[str, str], method: str = "GET",
         body: bytes | None = None) -> int:
    host, port = web.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest(method, path, skip_host=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body or b"")))
    conn.endheaders(body)
    status = conn.getresponse().status
    conn.close()
    return status


def test_without_token_foreign_pages_are_refused() -> None:
    """Bound without a token, the server accepts only this machine's host names (any port,
    as through an SSH tunnel), so a DNS-rebinding page gets 421; a POST must be JSON (415)
    from the same origin (403), so another web page cannot save through the browser."""
    router = Router()
    router.add("GET", "/hello", lambda _r: json_response({"hello": "world"}))
    router.add("POST", "/echo", _echo)  # type: ignore[arg-type]
    with WebServer(router, SessionGate(None, idle_s=0.0), "127.0.0.1", 0) as web:
        assert _raw(web, "/hello", {"Host": "127.0.0.1:9000"}) == 200
        assert _raw(web, "/hello", {"Host": "localhost:8421"}) == 200
        assert _raw(web, "/hello", {"Host": "evil.example:8421"}) == 421
        assert _raw(web, "/hello", {}) == 421
        body = b'{"a": 1}'
        assert _raw(web, "/echo", {"Host": "localhost:9000", "Content-Type": "text/plain"},
                    "POST", body) == 415
        assert _raw(web, "/echo", {"Host": "localhost:9000", "Content-Type": "application/json",
                                   "Origin": "http://evil.example"}, "POST", body) == 403
        assert _raw(web, "/echo", {"Host": "localhost:9000", "Content-Type": "application/json",
                                   "Origin": "http://localhost:9000"}, "POST", body) == 200


def test_loopback_gate_needs_no_token() -> None:
    """Without a token (loopback binding) the first client opens the session."""
    gate = SessionGate(None)
    assert gate.admit(Request("GET", "/", {}, {}, b"", "127.0.0.1"))
