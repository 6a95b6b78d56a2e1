"""A camera that cannot be opened says why, in the operating system's words."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge.camera.base import CaptureError
from edge.camera.opencv import OpenCvCapture
from edge.config.source import parse_source


def _open(source: str) -> str:
    with pytest.raises(CaptureError) as info:
        OpenCvCapture(parse_source(source), width=640, height=480, fps=15, timeout_s=2.0)
    return str(info.value)


def test_missing_v4l2_device_says_no_such_device() -> None:
    """A V4L2 device node that does not exist: the OS's 'No such file or directory'."""
    assert _open("v4l2:/dev/video97") == (
        "cannot open v4l2:/dev/video97: /dev/video97: No such file or directory"
    )


def test_refused_rtsp_port_says_connection_refused() -> None:
    """An RTSP server that is not listening: 'Connection refused' with host and port."""
    with socket.socket() as probe:  # a free port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = _open(f"rtsp://user:secret@127.0.0.1:{port}/stream")
    assert message.endswith(f"127.0.0.1:{port}: Connection refused"), message
    assert "secret" not in message


def test_unknown_rtsp_host_says_it_cannot_be_resolved() -> None:
    """An RTSP host name that does not resolve is named as such (.invalid never resolves)."""
    assert "host 'camera.invalid' cannot be resolved" in _open("rtsp://camera.invalid/s")


def test_file_that_is_not_a_video_says_it_cannot_be_decoded(tmp_path: Path) -> None:
    """A readable file FFmpeg cannot decode: the cause names the format or codec."""
    clip = tmp_path / "notes.mp4"
    clip.write_text("not a video at all\n" * 100)
    assert "FFmpeg cannot decode it" in _open(f"file:{clip}")
