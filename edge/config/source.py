"""Parse the ``camera.source`` string. Pure: no device or network is touched."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

SourceKind = Literal["picamera2", "v4l2", "rtsp", "file"]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed camera source: its kind and what to open (device path/index, URL or path)."""

    kind: SourceKind
    target: str

    def redacted(self) -> str:
        """The source as it may be logged: credentials in an RTSP URL are masked."""
        if self.kind != "rtsp":
            return f"{self.kind}:{self.target}"
        return redact_secrets(self.target)


_HINT = (
    "use one of: 'picamera2', 'v4l2:/dev/video0', a device index such as '0', "
    "'rtsp://host:554/stream', 'file:/path/video.mp4' or 'file:/path/folder_of_images'"
)


def parse_source(source: str) -> SourceSpec:
    """Return the :class:`SourceSpec` for ``source``; raise ``ValueError`` naming the fix."""
    text = source.strip()
    if not text:
        raise ValueError(f"camera.source is empty; {_HINT}")
    if text == "picamera2":
        return SourceSpec("picamera2", "")
    if text.isdigit():
        return SourceSpec("v4l2", text)
    if text.startswith("v4l2:"):
        target = text.removeprefix("v4l2:")
        if not (target.isdigit() or target.startswith("/dev/")):
            raise ValueError(f"v4l2 source {text!r} must name /dev/videoN or an index; {_HINT}")
        return SourceSpec("v4l2", target)
    if text.lower().startswith(("rtsp://", "rtsps://")):  # schemes are case-insensitive
        scheme, rest = text.split("://", 1)
        text = f"{scheme.lower()}://{rest}"
        parts = urlsplit(text)
        shown = SourceSpec("rtsp", text).redacted()
        if not parts.hostname:
            raise ValueError(f"RTSP URL {shown!r} has no host")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"RTSP URL {shown!r}: the port must be a number from 1 to 65535")
        return SourceSpec("rtsp", text)
    if text.startswith("file:"):
        target = text.removeprefix("file:")
        if target.startswith("//"):
            target = target[2:]
        if not target:
            raise ValueError(f"file source {text!r} has no path; {_HINT}")
        return SourceSpec("file", target)
    raise ValueError(f"unknown camera.source {text!r}; {_HINT}")


#: ``scheme://user:password@`` (or ``scheme://user@``) anywhere in a text.
_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/\s'\"]+@")
#: ``user:password@host`` without a scheme (e.g. written into mqtt.host).
_BARE_USERINFO_RE = re.compile(r"(?<![\w/.:@-])[^\s/'\"@:]+:[^\s/'\"@]+@(?=[\w\[])")


def redact_secrets(text: str) -> str:
    """``text`` with the user name and password of every URL in it masked
    (``rtsp://user:pass@cam/1`` -> ``rtsp://***@cam/1``): for every output a person or a log
    collector may read (config check, privacy report, bench, errors, logs)."""
    return _BARE_USERINFO_RE.sub("***@", _USERINFO_RE.sub(r"\1***@", text))
