"""The one small web stack of both pages, the device's setup view (``edge setup``) and the
fleet dashboard (``edge fleet web``): the standard library's ``ThreadingHTTPServer`` with a
router, two gates (one client with an optional one-time token for setup; many clients with a
token for the dashboard), a hard deadline, static files served from a package, JSON and CSV
helpers. No third-party web framework and no asset from the internet. Nothing here imports a
``fleet`` package or any stage of the pipeline."""

from edge.web.server import (
    Gate,
    HttpError,
    Request,
    Response,
    Router,
    SessionGate,
    TokenGate,
    WebServer,
    attachment,
    csv_response,
    is_loopback,
    json_response,
)

__all__ = [
    "Gate",
    "HttpError",
    "Request",
    "Response",
    "Router",
    "SessionGate",
    "TokenGate",
    "WebServer",
    "attachment",
    "csv_response",
    "is_loopback",
    "json_response",
]
