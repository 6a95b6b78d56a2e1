"""The small web stack the device's setup view uses (and the fleet dashboard may share):
the standard library's ``ThreadingHTTPServer`` with a router, a one-client session gate with
an optional one-time token, a hard deadline, static files served from the package, JSON
helpers. No third-party web framework and no asset from the internet. Nothing here imports a
``fleet`` package or any stage of the pipeline."""

from edge.web.server import (
    HttpError,
    Request,
    Response,
    Router,
    SessionGate,
    WebServer,
    json_response,
)

__all__ = [
    "HttpError",
    "Request",
    "Response",
    "Router",
    "SessionGate",
    "WebServer",
    "json_response",
]
