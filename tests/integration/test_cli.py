"""`edge demo` and `edge detect` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

from tests.conftest import SAMPLE_VIDEO, Broker, Subscriber

pytestmark = pytest.mark.integration


def edge(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout_s
    )


def test_demo_prints_schema_valid_payloads(validate_payload: Any) -> None:
    """`edge demo` runs the whole pipeline on the bundled clip and prints one valid JSON
    payload per window, the last one partial, at least one above k."""
    res = edge("demo", "--window-s", "3")
    assert res.returncode == 0, res.stderr
    documents = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(documents) >= 4  # 12 s clip in 3 s windows
    for doc in documents:
        validate_payload(doc)
    assert documents[-1]["partial"] is True
    assert any(not d["suppressed"] and d["faces"] >= 3 for d in documents)
    assert "120 frames analysed" in res.stderr or "frames analysed" in res.stderr


def test_demo_publishes_with_mqtt_flag(broker: Broker) -> None:
    """`edge demo --mqtt HOST:PORT` also publishes every printed payload to the broker."""
    with Subscriber(broker, ["edge/+/emotions"]) as sub:
        res = edge("demo", "--window-s", "4", "--mqtt", f"{broker.host}:{broker.port}")
        assert res.returncode == 0, res.stderr
        printed = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
        got = sub.wait_for(f"edge/{printed[0]['device']}/emotions", len(printed), timeout_s=10)
    assert [m.json() for m in got] == printed


def test_demo_rejects_bad_broker_flag() -> None:
    """A malformed --mqtt value exits 2 and shows the expected form."""
    res = edge("demo", "--mqtt", "localhost:notaport")
    assert res.returncode == 2
    assert "HOST:PORT" in res.stderr


def test_detect_outputs_faces_as_json(tmp_path: Path) -> None:
    """`edge detect` prints one JSON document per image with box, score and probabilities;
    an unreadable image is reported with exit 2 without stopping the others."""
    cap = cv2.VideoCapture(str(SAMPLE_VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 70)
    ok, frame = cap.read()
    cap.release()
    assert ok
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), frame)
    res = edge("detect", str(image), str(tmp_path / "missing.jpg"))
    assert res.returncode == 2
    assert "missing.jpg: cannot read" in res.stderr
    [doc] = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(doc["faces"]) == 3
    for face in doc["faces"]:
        assert len(face["box"]) == 4 and 0 < face["score"] <= 1
        assert abs(sum(face["expressions"].values()) - 1) < 1e-3


def _frame_png(tmp_path: Path) -> Path:
    cap = cv2.VideoCapture(str(SAMPLE_VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 70)
    ok, frame = cap.read()
    cap.release()
    assert ok
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), frame)
    return image


def test_no_runtime_info_line_on_stderr(tmp_path: Path) -> None:
    """The native runtime's 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.' line is
    not printed by `edge detect` or `edge demo` (it is a DEBUG log record now)."""
    for res in (edge("detect", str(_frame_png(tmp_path))), edge("demo", "--window-s", "6")):
        assert res.returncode == 0, res.stderr
        assert "XNNPACK" not in res.stderr and "INFO: Created" not in res.stderr, res.stderr


@pytest.mark.parametrize(
    "argv",
    [("--log-level", "DEBUG", "detect"), ("detect", "--log-level", "DEBUG")],
    ids=["before_verb", "after_verb"],
)
def test_log_level_debug_adds_debug_lines(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """--log-level DEBUG (before or after the verb) adds DEBUG lines: the runtime, each model
    loaded with its id and sha256 prefix; without it there are none."""
    image = str(_frame_png(tmp_path))
    res = edge(*argv, image)
    assert res.returncode == 0, res.stderr
    debug = [line for line in res.stderr.splitlines() if " DEBUG " in line]
    assert any("Created TensorFlow Lite XNNPACK delegate" in line for line in debug), debug
    assert any("model blazeface_full_range@" in line for line in debug), debug
    assert " DEBUG " not in edge("detect", image).stderr


def test_demo_with_unreachable_broker_fails() -> None:
    """`edge demo --mqtt` to a port where no broker listens does not exit 0 after discarding
    every window: exit 1 with how many windows were lost and where they should have gone."""
    import socket

    with socket.socket() as probe:  # a free port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    res = edge("demo", "--window-s", "6", "--mqtt", f"127.0.0.1:{port}")
    assert res.returncode == 1, res.stderr
    printed = [line for line in res.stdout.splitlines() if line.strip()]
    assert f"{len(printed)} of {len(printed)} window(s) were not delivered" in res.stderr
    assert f"broker at 127.0.0.1:{port}" in res.stderr
