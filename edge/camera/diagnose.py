"""Why a camera source could not be opened, in the operating system's words.

OpenCV's ``VideoCapture`` only answers "not opened"; this asks the OS the one question that
tells the causes apart: can the device node be opened (no such device, permission denied,
busy), does the RTSP server accept a TCP connection (refused, timed out, unknown host), can
the file be read. What is left is named as such (a codec, a format, a wrong stream path).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from edge.config.source import SourceSpec

#: RTSP's default ports (RFC 2326 / RFC 7826: 554, and 322 for rtsps).
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}


def open_failure_cause(spec: SourceSpec, timeout_s: float) -> str:
    """One phrase: why ``spec`` probably could not be opened."""
    if spec.kind == "v4l2":
        return _device_cause(f"/dev/video{spec.target}" if spec.target.isdigit() else spec.target)
    if spec.kind == "rtsp":
        return _rtsp_cause(spec.target, timeout_s)
    if spec.kind == "file":
        return _file_cause(spec.target)
    return "the source could not be opened"


def _device_cause(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    os.close(fd)
    return (
        f"{path} opens, but OpenCV's V4L2 backend refused it (not a video capture node, or no "
        "format it can read; `v4l2-ctl --list-formats-ext -d DEVICE` lists them)"
    )


def _rtsp_cause(url: str, timeout_s: float) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 554)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except socket.gaierror as exc:
        return f"host {host!r} cannot be resolved ({exc.strerror})"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    return (
        f"{host}:{port} accepts connections, but the stream did not open (wrong path or "
        "credentials, or a codec FFmpeg cannot decode)"
    )


def _file_cause(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    return "FFmpeg cannot decode it (not a video, or an unknown container or codec)"
