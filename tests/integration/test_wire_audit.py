"""Wire audit: everything `edge run` sends, captured on the wire, holds no image or person.

The service runs on the bundled clip (looping, 1 s windows) against a real Mosquitto, through a
loopback TCP tap that records every byte of its MQTT connections, while a subscriber on `#`
sees what any consumer would see. Checked on both captures: no image/array signature, no
payload over 8 KB, no long binary or base64 runs, JSON keys only from the JSON Schemas in
edge/schemas/ (each walked to an allowlist), no coordinate/box/landmark/track-id keys,
k-anonymity and the schema on every window copy (emotions and any retained state topic).
Afterwards, no file the process could write (state dir, TMPDIR, HOME, working directory)
holds an image signature anywhere in its bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Broker, Received, Subscriber, clip_config
from tests.integration import wiretap
from tests.integration.wiretap import MAX_PAYLOAD, Publish, TcpTap
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
DEVICE = "audit-pi"
SCHEMA_DIR = REPO_ROOT / "edge" / "schemas"
WINDOWS = 6
TEXT_PAYLOADS_MAX = 64  # status/command words such as "online", "offline", "ON"


@dataclass
class Capture:
    """What one audited run produced."""

    raw: list[Publish]  # PUBLISH packets the service sent, decoded from the tapped stream
    will: list[Publish]  # last-will messages registered in CONNECT
    sent_bytes: int
    received_bytes: int
    packet_kinds: Counter[int]
    subscribed: list[Received]  # what the subscriber on '#' got
    stderr: str
    written: list[Path]  # roots the process could write to

    def summary(self) -> str:
        topics = Counter(p.topic for p in self.raw)
        largest = max((len(p.payload) for p in self.raw), default=0)
        return (
            f"raw stream: {len(self.raw)} PUBLISH packets, {self.sent_bytes} bytes sent, "
            f"{self.received_bytes} bytes received, packet types {dict(self.packet_kinds)}, "
            f"largest payload {largest} B; per topic {dict(topics)}; subscriber on '#': "
            f"{len(self.subscribed)} messages, "
            f"{sum(len(m.payload) for m in self.subscribed)} payload bytes"
        )


def _config(tmp_path: Path, port: int, privacy: list[str]) -> Path:
    privacy_yaml = "privacy:\n" + "\n".join(privacy or ["  min_faces: 3"]) + "\n"
    # telemetry at a fast cadence so the audit sees it too
    extra = privacy_yaml + "telemetry:\n  interval_s: 1\n"
    return clip_config(tmp_path, "127.0.0.1", port, DEVICE, extra=extra)


def _run(tmp_path: Path, broker: Broker, privacy: list[str]) -> Capture:
    roots = {name: tmp_path / name for name in ("state", "tmp", "home", "cwd")}
    for root in roots.values():
        root.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    env |= {"TMPDIR": str(roots["tmp"]), "HOME": str(roots["home"])}
    with Subscriber(broker, ["#"], client_id="auditor") as sub, TcpTap(broker.port) as tap:
        config = _config(tmp_path, tap.port, privacy)
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            cwd=roots["cwd"],
        )
        try:
            sub.wait_for(f"edge/{DEVICE}/emotions", WINDOWS, timeout_s=90)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                _out, err = proc.communicate()
        # the service's last message is `offline`; what it sent before has been forwarded then
        status = f"edge/{DEVICE}/status"
        wait_until(lambda: [m.payload for m in sub.on(status)][-1:] == [b"offline"], 10,
                   message="the broker forwarding the service's last message (offline)")
    assert proc.returncode == 0, err
    raw: list[Publish] = []
    wills: list[Publish] = []
    kinds: Counter[int] = Counter()
    for conn in tap.connections:
        sent = list(wiretap.packets(bytes(conn.sent)))
        kinds.update(p.kind for p in sent)
        level = next((wiretap.protocol_level(p) for p in sent if p.kind == 1), 4)
        wills += [w for p in sent if p.kind == 1 for w in [wiretap.connect_will(p)] if w]
        raw += [wiretap.decode_publish(p, level) for p in sent if p.kind == 3]
    return Capture(
        raw=raw,
        will=wills,
        sent_bytes=sum(len(c.sent) for c in tap.connections),
        received_bytes=sum(len(c.received) for c in tap.connections),
        packet_kinds=kinds,
        subscribed=list(sub.messages),
        stderr=err,
        written=list(roots.values()),
    )


def _check_payload(topic: str, payload: bytes, allowed: set[str]) -> Any:
    """Content rules for one payload; returns the decoded JSON document or None for text."""
    assert len(payload) <= MAX_PAYLOAD, f"{topic}: {len(payload)} B payload"
    assert not wiretap.magic_found(payload), f"{topic}: {wiretap.magic_found(payload)}"
    assert not wiretap.looks_like_encoded_binary(payload), f"{topic}: base64-like run"
    text = payload.decode("utf-8")  # raises on binary
    if not text.lstrip().startswith(("{", "[")):
        assert len(payload) <= TEXT_PAYLOADS_MAX and text.isprintable(), f"{topic}: {text!r}"
        return None
    document = json.loads(text)
    keys = set(wiretap.json_keys(document))
    assert keys <= allowed, f"{topic}: keys outside every schema in edge/schemas: {keys - allowed}"
    bad = sorted(k for k in keys if wiretap.forbidden(k))
    assert not bad, f"{topic}: person/position-like keys {bad}"
    assert wiretap.longest_number_array(document) <= 8, f"{topic}: a raw numeric array"
    return document


def _check_window(document: dict[str, Any], k: int, dp: bool, validate: Any) -> None:
    validate(document)
    if document["suppressed"]:
        for key in ("expressions", "dominant", "dominant_counts", "valence", "confidence"):
            assert document[key] is None, f"suppressed window carries {key}"
    elif not dp:
        assert document["faces"] >= k
    assert ("dp" in document) == dp


def _audit(capture: Capture, k: int, dp: bool, validate: Any) -> list[dict[str, Any]]:
    """Every check on one capture; returns the window documents seen on the raw stream."""
    allowed = set().union(*wiretap.allowlist(SCHEMA_DIR).values())
    windows: list[dict[str, Any]] = []
    for stream_name, stream in (("raw", capture.raw + capture.will), ("#", capture.subscribed)):
        for message in stream:
            document = _check_payload(message.topic, message.payload, allowed)
            if isinstance(document, dict) and document.get("schema") == "edge.emotions/1":
                _check_window(document, k, dp, validate)
                if stream_name == "raw" and message.topic.endswith("/emotions"):
                    windows.append(document)
    assert capture.sent_bytes > 0 and capture.raw, "the tap saw no traffic"
    for packet_bytes in (capture.sent_bytes, capture.received_bytes):
        assert packet_bytes < 10 * 1024 * 1024
    # the subscriber saw nothing the service did not send through the tap
    sent = {(p.topic, p.payload) for p in capture.raw + capture.will}
    unexplained = [(m.topic, m.payload[:60]) for m in capture.subscribed
                   if (m.topic, m.payload) not in sent]
    assert not unexplained, unexplained
    state = [p for p in capture.raw if p.topic == f"edge/{DEVICE}/state"]
    emitted = {p.payload for p in capture.raw if p.topic == f"edge/{DEVICE}/emotions"}
    for copy in state:  # issue 3's retained copy: byte for byte an emitted window
        assert copy.retain and copy.payload in emitted
    for root in capture.written:
        assert wiretap.image_files(root) == [], f"image file left under {root}"
    assert "Traceback" not in capture.stderr
    return windows


def test_wire_audit_default_privacy(
    broker: Broker, tmp_path: Path, validate_payload: Any
) -> None:
    """With the default privacy settings (k = 3), every byte the service sends is a small
    allowlisted JSON summary or a status word: no image, no coordinates, no track ids, and
    windows under k carry no shares; no image file is left anywhere it could write."""
    capture = _run(tmp_path, broker, [])
    windows = _audit(capture, k=3, dp=False, validate=validate_payload)
    suppressed = sum(w["suppressed"] for w in windows)
    print(f"\nwire audit (default privacy): {capture.summary()}; windows {len(windows)}, "
          f"{suppressed} suppressed")
    assert len(windows) >= WINDOWS
    assert [w["seq"] for w in windows] == list(range(1, len(windows) + 1))
    assert any(not w["suppressed"] for w in windows), "no window reached k on the clip"


def test_wire_audit_masks_and_dp(broker: Broker, tmp_path: Path, validate_payload: Any) -> None:
    """With masks, an ROI, min_face_px, k = 50 and differential privacy on, the wire holds
    only allowlisted JSON with `dp` stated, and every window is suppressed (faces < k)
    whatever the noise on `faces`."""
    privacy = [
        "  min_faces: 50",
        "  masks:",
        "    - units: normalized",
        "      rect: [0.9, 0.9, 1, 1]",
        "  roi:",
        "    units: normalized",
        "    points: [[0, 0], [1, 0], [1, 1], [0, 1]]",
        "  min_face_px: 8",
        "  dp:",
        "    epsilon: 1.0",
    ]
    capture = _run(tmp_path, broker, privacy)
    windows = _audit(capture, k=50, dp=True, validate=validate_payload)
    suppressed = sum(w["suppressed"] for w in windows)
    print(f"\nwire audit (masks + dp, k=50): {capture.summary()}; windows {len(windows)}, "
          f"{suppressed} suppressed")
    assert len(windows) >= WINDOWS
    assert all(w["suppressed"] for w in windows)
    assert all(w["dp"]["epsilon"] == 1.0 for w in windows)


def test_audit_allowlist_is_closed_and_clean() -> None:
    """Every schema in edge/schemas is closed (additionalProperties: false everywhere), and
    none of its allowed keys names a position, a box, a landmark, a track or an image."""
    lists = wiretap.allowlist(SCHEMA_DIR)
    assert "emotions-1.schema.json" in lists
    for name, keys in lists.items():
        assert keys, name
        assert not [k for k in keys if wiretap.forbidden(k)], name


def test_audit_checks_catch_violations() -> None:
    """The audit's own checks fire: a JPEG, a PNG, an oversize or binary payload, a base64
    blob, an unknown key, a box key and a raw numeric array are each rejected."""
    allowed = set().union(*wiretap.allowlist(SCHEMA_DIR).values())
    bad_payloads = [
        b"\xff\xd8\xff\xe0" + b"\x00" * 16,
        b'{"faces": 1, "x": "\x89PNG\r\n\x1a\n"}',
        b'{"faces": ' + b" " * MAX_PAYLOAD + b"1}",
        bytes(range(256)),
        b'{"faces": "' + b"QUJD" * 64 + b'"}',
        b'{"faces": 1, "smile_vector": 2}',
        b'{"faces": 1, "box": [1, 2, 3, 4]}',
        b'{"faces": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}',
        b"a status word that is far too long to be a status word at all, clearly",
    ]
    for payload in bad_payloads:
        with pytest.raises((AssertionError, UnicodeDecodeError)):
            _check_payload("t", payload, allowed)
    assert _check_payload("t", b"online", allowed) is None
    assert wiretap.forbidden("box") and wiretap.forbidden("track_id")
    assert wiretap.forbidden("left_eye") and not wiretap.forbidden("outbox")
    assert wiretap.image_files(REPO_ROOT / "edge" / "schemas") == []
