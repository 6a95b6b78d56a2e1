"""camera.source parsing: every accepted form, and errors that say what is accepted."""

from __future__ import annotations

import pytest

from edge.config.source import SourceSpec, parse_source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("picamera2", SourceSpec("picamera2", "")),
        ("0", SourceSpec("v4l2", "0")),
        ("v4l2:/dev/video2", SourceSpec("v4l2", "/dev/video2")),
        ("v4l2:1", SourceSpec("v4l2", "1")),
        ("rtsp://cam.local:554/h264", SourceSpec("rtsp", "rtsp://cam.local:554/h264")),
        ("RTSP://cam.local:554/h264", SourceSpec("rtsp", "rtsp://cam.local:554/h264")),
        ("Rtsps://cam.local/h264", SourceSpec("rtsp", "rtsps://cam.local/h264")),
        ("file:/tmp/clip.mp4", SourceSpec("file", "/tmp/clip.mp4")),
        ("file:///tmp/frames", SourceSpec("file", "/tmp/frames")),
    ],
)
def test_accepted_forms(text: str, expected: SourceSpec) -> None:
    """Each documented source form parses to its kind and target."""
    assert parse_source(text) == expected


@pytest.mark.parametrize("text", ["", "http://x/stream", "v4l2:video0", "file:", "rtsp://"])
def test_rejected_forms_explain(text: str) -> None:
    """Unusable sources raise ValueError naming what would be accepted or what is missing."""
    with pytest.raises(ValueError, match=r"picamera2|no host|no path|v4l2"):
        parse_source(text)


def test_rtsp_credentials_are_redacted() -> None:
    """A password in an RTSP URL never reaches logs."""
    spec = parse_source("rtsp://admin:s3cret@10.0.0.5:554/stream")
    assert "s3cret" not in spec.redacted()
    assert "admin" not in spec.redacted()
    assert spec.redacted() == "rtsp://***@10.0.0.5:554/stream"


@pytest.mark.parametrize("port", ["65536", "99999", "0", "http"])
def test_rtsp_port_out_of_range_is_refused(port: str) -> None:
    """An RTSP port outside 1..65535 (or not a number) is a config error, not a later
    failure to connect; the credentials stay masked in the message."""
    with pytest.raises(ValueError, match="port must be a number from 1 to 65535") as info:
        parse_source(f"rtsp://user:secret@cam:{port}/s")
    assert "secret" not in str(info.value)
