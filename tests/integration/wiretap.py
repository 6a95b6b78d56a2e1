"""Tools of the wire audit: a loopback TCP tap, an MQTT packet decoder, content checks.

The tap sits between the service and the broker and keeps every byte of every connection in
both directions, so the audit sees what actually left the process, not what a subscriber is
shown. The decoder understands MQTT 3.1.1 and 5 framing (enough for CONNECT and PUBLISH).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Signatures of image and array formats, searched anywhere in a byte stream or file.
MAGIC: dict[str, bytes] = {
    "JPEG": b"\xff\xd8\xff",
    "PNG": b"\x89PNG\r\n\x1a\n",
    "GIF": b"GIF8",
    "WebP": b"WEBPVP8",
    "TIFF-le": b"II*\x00",
    "TIFF-be": b"MM\x00*",
    "NumPy .npy": b"\x93NUMPY",
    "JPEG 2000": b"\x00\x00\x00\x0cjP  ",
}

#: Key names that would describe a person, a position or a picture (case-insensitive): these
#: parts anywhere in a key, or these words as a whole '_'-separated part of it.
FORBIDDEN_KEY_PARTS = (
    "landmark", "keypoint", "coord", "embedding", "jpeg", "pixel", "faceid", "face_id",
    "trackid", "track_id", "person", "identity", "bbox",
)
FORBIDDEN_KEY_WORDS = {
    "x", "y", "w", "h", "x0", "y0", "x1", "y1", "cx", "cy", "id", "uid", "ids", "box", "boxes",
    "track", "tracks", "image", "images", "img", "crop", "crops", "png", "jpg", "eye", "eyes",
    "nose", "mouth", "centre", "center", "location", "position", "lat", "lon", "face",
}

MAX_PAYLOAD = 8 * 1024


def magic_found(data: bytes) -> list[str]:
    """Names of the image/array signatures that occur anywhere in ``data``."""
    return [name for name, magic in MAGIC.items() if magic in data]


def forbidden(key: str) -> bool:
    low = key.lower()
    words = set(re.split(r"[_\-. ]", low))
    return bool(words & FORBIDDEN_KEY_WORDS) or any(part in low for part in FORBIDDEN_KEY_PARTS)


# ----------------------------------------------------------------------------- TCP tap


@dataclass
class Connection:
    """The bytes of one proxied TCP connection."""

    sent: bytearray = field(default_factory=bytearray)  # service -> broker
    received: bytearray = field(default_factory=bytearray)  # broker -> service


class TcpTap:
    """A loopback TCP proxy to ``127.0.0.1:target_port`` recording both directions.

    Bounded in time: every socket has a short timeout and :meth:`close` joins every thread
    with a deadline.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> TcpTap:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self._target, timeout=5)
            conn = Connection()
            with self._lock:
                self.connections.append(conn)
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, conn.sent)
            self._spawn(self._pump, upstream, client, conn.received)

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        src.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            with self._lock:
                record.extend(data)
            try:
                dst.sendall(data)
            except OSError:
                break
        for sock in (dst, src):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in [*self._sockets, self._listener]:
            sock.close()


# ----------------------------------------------------------------------------- MQTT decoding


@dataclass(frozen=True)
class Packet:
    kind: int  # MQTT control packet type, 1..15
    flags: int
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise ValueError("malformed MQTT remaining length")


def packets(stream: bytes) -> Iterator[Packet]:
    """Split a captured byte stream into MQTT control packets (a cut-off tail is ignored)."""
    pos = 0
    while pos < len(stream):
        header = stream[pos]
        try:
            length, start = _varint(stream, pos + 1)
        except IndexError:
            return
        if start + length > len(stream):
            return
        yield Packet(header >> 4, header & 0x0F, bytes(stream[start : start + length]))
        pos = start + length


def _string(body: bytes, pos: int) -> tuple[bytes, int]:
    size = int.from_bytes(body[pos : pos + 2], "big")
    return body[pos + 2 : pos + 2 + size], pos + 2 + size


def protocol_level(connect: Packet) -> int:
    """4 for MQTT 3.1.1, 5 for MQTT 5 (from a CONNECT packet)."""
    _name, pos = _string(connect.body, 0)
    return connect.body[pos]


def connect_will(connect: Packet) -> Publish | None:
    """The last-will message a CONNECT packet registers, if any."""
    body = connect.body
    _name, pos = _string(body, 0)
    level, flags = body[pos], body[pos + 1]
    pos += 4  # level, flags, keepalive
    if level == 5:
        props, pos = _varint(body, pos)
        pos += props
    _client_id, pos = _string(body, pos)
    if not flags & 0x04:
        return None
    if level == 5:
        props, pos = _varint(body, pos)
        pos += props
    topic, pos = _string(body, pos)
    payload, pos = _string(body, pos)
    return Publish(topic.decode(), payload, (flags >> 3) & 3, bool(flags & 0x20))


def decode_publish(packet: Packet, level: int) -> Publish:
    qos = (packet.flags >> 1) & 3
    topic, pos = _string(packet.body, 0)
    if qos:
        pos += 2  # packet identifier
    if level == 5:
        props, pos = _varint(packet.body, pos)
        pos += props
    return Publish(topic.decode(), packet.body[pos:], qos, bool(packet.flags & 1))


# ----------------------------------------------------------------------------- schemas


def schema_keys(schema: Any, path: str = "$") -> set[str]:
    """Every property name a JSON Schema allows; fails if any object is left open."""
    keys: set[str] = set()
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind):
            open_ended = schema.get("additionalProperties", True) is not False
            if open_ended or "patternProperties" in schema:
                raise AssertionError(f"{path}: object without additionalProperties: false")
        for name, sub in schema.get("properties", {}).items():
            keys.add(name)
            keys |= schema_keys(sub, f"{path}.{name}")
        for word in ("items", "if", "then", "else", "not"):
            if word in schema:
                keys |= schema_keys(schema[word], f"{path}/{word}")
        for word in ("oneOf", "anyOf", "allOf", "prefixItems"):
            for index, sub in enumerate(schema.get(word, [])):
                keys |= schema_keys(sub, f"{path}/{word}[{index}]")
        for name, sub in schema.get("$defs", {}).items():
            keys |= schema_keys(sub, f"{path}/$defs/{name}")
    return keys


def allowlist(schema_dir: Path) -> dict[str, set[str]]:
    """Allowed keys per schema file in ``schema_dir``."""
    files = sorted(schema_dir.glob("*.json"))
    return {p.name: schema_keys(json.loads(p.read_text())) for p in files}


def json_keys(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from json_keys(value)
    elif isinstance(document, list):
        for value in document:
            yield from json_keys(value)


def longest_number_array(document: Any) -> int:
    """Length of the longest list of numbers anywhere in ``document``."""
    if isinstance(document, dict):
        return max((longest_number_array(v) for v in document.values()), default=0)
    if isinstance(document, list):
        own = len(document) if all(isinstance(v, int | float) for v in document) else 0
        return max([own, *(longest_number_array(v) for v in document)])
    return 0


_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=]{120,}")


def looks_like_encoded_binary(payload: bytes) -> bool:
    """True for long base64-like runs (an encoded image would show up as one)."""
    return _BASE64_RUN.search(payload) is not None


def image_files(root: Path) -> list[str]:
    """Files under ``root`` that contain an image/array signature anywhere in their bytes."""
    found = []
    if not root.exists():
        return found
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            hits = magic_found(path.read_bytes())
            if hits:
                found.append(f"{path} ({', '.join(hits)})")
    return found
