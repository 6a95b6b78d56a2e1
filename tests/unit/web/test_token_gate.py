"""edge.web for the fleet dashboard: the many-client TokenGate (Bearer header, ?token= that
sets an HttpOnly SameSite=Strict cookie, that cookie; 401 otherwise), CSV and attachment
responses, static files in sub-folders with their cache header, a failing handler answered
500, and is_loopback; on a real ThreadingHTTPServer on a free loopback port."""

from __future__ import annotations

import csv
import http.client
import io
import json
from collections.abc import Iterator

import pytest

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


def _request(query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             client: str = "10.0.0.1") -> Request:
    return Request("GET", "/", query or {}, headers or {}, b"", client)


def _boom(_request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.fixture
def web() -> Iterator[WebServer]:
    router = Router()
    router.add("GET", "/hello", lambda r: json_response({"q": r.query}))
    router.add("GET", "/rows.csv", lambda _r: csv_response(
        ("a", "b"), [{"a": 1, "b": "x,y"}, {"a": 2, "b": None}], (attachment("rows.csv"),)))
    router.add("GET", "/boom", _boom)
    router.static("/static/", "edge.fleet", "static", cache="max-age=300")
    with WebServer(router, TokenGate("s3cret"), "127.0.0.1", 0) as server:
        yield server


def _get(web: WebServer, path: str, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    host, port = web.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_token_gate_admits_many_clients_with_the_token() -> None:
    """Without a token every client is admitted; with one, a wrong or missing token is 401,
    the Bearer header wins over the query and the cookie, ?token= sets an HttpOnly
    SameSite=Strict cookie, and two different clients are both admitted (no session)."""
    assert TokenGate(None).admit(_request()) == ()
    gate = TokenGate("s3cret")
    for bad in (_request(), _request({"token": "wrong"}),
                _request(headers={"authorization": "Bearer wrong"}),
                _request({"token": "s3cret"}, {"authorization": "Bearer wrong"}),
                _request(headers={"cookie": "edge_token=wrong"})):
        with pytest.raises(HttpError) as info:
            gate.admit(bad)
        assert info.value.status == 401
    assert gate.admit(_request(headers={"authorization": "Bearer s3cret"})) == ()
    assert gate.admit(_request(headers={"cookie": "edge_token=s3cret"}, client="10.0.0.2")) == ()
    ((name, value),) = gate.admit(_request({"token": "s3cret"}, client="10.0.0.3"))
    assert name == "Set-Cookie" and value.startswith("edge_token=s3cret;")
    assert "HttpOnly" in value and "SameSite=Strict" in value


def test_token_server_csv_static_and_errors(web: WebServer) -> None:
    """Over HTTP: 401 without the token; ?token= answers 200 with the cookie, which alone
    works afterwards; query parameters reach the handler (last value wins); a CSV export
    is text/csv with an attachment name and quoting; a static file in a sub-folder is
    served with its cache header and nosniff, '..' is 404; a handler's bug is a JSON 500."""
    status, _h, body = _get(web, "/hello")
    assert status == 401 and b"token" in body
    status, headers, body = _get(web, "/hello?token=s3cret&site=a&site=b")
    assert status == 200 and json.loads(body) == {"q": {"token": "s3cret", "site": "b"}}
    cookie = headers["set-cookie"].split(";")[0]
    assert _get(web, "/hello", {"Cookie": cookie})[0] == 200
    auth = {"Authorization": "Bearer s3cret"}
    status, headers, body = _get(web, "/rows.csv", auth)
    assert status == 200 and headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == 'attachment; filename="rows.csv"'
    assert list(csv.DictReader(io.StringIO(body.decode()))) == [
        {"a": "1", "b": "x,y"}, {"a": "2", "b": ""}]
    status, headers, body = _get(web, "/static/vendor/uPlot.iife.min.js", auth)
    assert status == 200 and headers["cache-control"] == "max-age=300"
    assert headers["x-content-type-options"] == "nosniff" and body
    assert _get(web, "/static/vendor/../web.py", auth)[0] == 404
    assert _get(web, "/static/vendor//uPlot.min.css", auth)[0] == 404
    status, _h, body = _get(web, "/boom", auth)
    assert status == 500 and json.loads(body) == {"error": "internal error (see the log)"}


def test_json_default_and_is_loopback() -> None:
    """json_response turns what JSON lacks (dates) into text only when asked; is_loopback
    knows 127.x, ::1 (bracketed too) and localhost, and nothing else."""
    from datetime import date

    assert json.loads(json_response({"d": date(2026, 1, 2)}, default=str).body) == {
        "d": "2026-01-02"}
    with pytest.raises(TypeError):
        json_response({"d": date(2026, 1, 2)})
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", "::"))
