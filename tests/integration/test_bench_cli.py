"""`edge bench` as a user runs it: the real pipeline on the bundled clip, every key present."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config, device_id
from tests.conftest import Broker, Subscriber

pytestmark = pytest.mark.integration

STAGE_KEYS = {"n", "per", "p50_ms", "p95_ms", "mean_ms"}


def edge(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _bench_json(*args: str) -> dict[str, Any]:
    res = edge("bench", "--json", *args)
    assert res.returncode == 0, res.stderr
    result: dict[str, Any] = json.loads(res.stdout)
    return result


def test_bench_publishes_the_open_window_at_the_end() -> None:
    """A run shorter than one window still reports (and would publish) the window it had open,
    as `edge run` does at stop: the count no longer depends on whether the run happened to
    cross a window boundary of the wall clock (a fast machine crossed none)."""
    result = _bench_json("--frames", "5", "--warmup", "1", "--window-s", "3600")
    assert result["windows"] >= 1


def test_bench_json_has_every_key() -> None:
    """`edge bench --frames 20 --json` on the bundled clip reports fps, CPU per frame and per
    second of video at the clip's 10 frames/s, peak RSS, p50/p95 of every stage, both bare
    invoke times (the detector's once per frame that ran it: every 2nd at detector.fps 5) and
    the overhead ratio (values not judged)."""
    result = _bench_json("--frames", "20", "--warmup", "2")
    for key in (
        "fps", "cpu_s_per_frame", "cpu_s_per_video_s", "rss_mb", "overhead_ratio",
        "faces_per_frame", "classified_per_frame", "detect_share",
    ):  # fmt: skip
        assert isinstance(result[key], float), key
    assert result["source_fps"] == 10.0
    assert result["cpu_s_per_video_s"] == pytest.approx(result["cpu_s_per_frame"] * 10, abs=1e-3)
    assert set(result["stages"]) == {
        "capture", "detect", "align", "classify", "track", "aggregate", "publish", "glue", "frame"
    }  # fmt: skip
    for name, stage in result["stages"].items():
        assert set(stage) >= STAGE_KEYS, name
    assert result["stages"]["frame"]["n"] == 20
    assert result["stages"]["classify"]["n"] == result["stages"]["align"]["n"] > 0
    assert result["invoke"]["detector"]["n"] == round(20 * result["detect_share"]) == 10
    assert result["invoke"]["classifier"]["p50_ms"] > 0
    assert result["invocations_per_frame"] == 1
    assert result["classifier_invokes_per_face"] == (2 if Config().classifier.flip_tta else 1)
    assert result["machine"]["cores"] >= 1


def test_bench_markdown_and_threads() -> None:
    """Without --json the result is a Markdown table; --threads sets the detector's threads;
    a short clip is replayed when more frames are asked for than it has (120)."""
    res = edge("bench", "--frames", "130", "--warmup", "0", "--threads", "1")
    assert res.returncode == 0, res.stderr
    assert "| stage | per | n | p50 ms | p95 ms | mean ms |" in res.stdout
    assert "| frame | frame | 130 |" in res.stdout
    assert "detector threads 1" in res.stdout


def test_bench_counts_two_classifier_invokes_per_face_with_flip_tta(tmp_path: Path) -> None:
    """With classifier.flip_tta in the --config file the bench reports 2 classifier invokes per
    face and uses them in the model time of the overhead ratio (for the faces classified, on
    the frames that ran the detector)."""
    config = tmp_path / "edge.yaml"
    config.write_text("classifier:\n  flip_tta: true\n")
    result = _bench_json("--frames", "10", "--warmup", "2", "--config", str(config))
    assert result["classifier_invokes_per_face"] == 2
    det, cls = result["invoke"]["detector"]["mean_ms"], result["invoke"]["classifier"]["mean_ms"]
    expected = (
        det * result["invocations_per_frame"] * result["detect_share"]
        + result["classified_per_frame"] * cls * 2
    )
    assert result["model_ms_per_frame"] == pytest.approx(expected, abs=0.01)


def test_bench_publishes_to_broker(broker: Broker) -> None:
    """With --mqtt every closed window is published to the broker under edge-bench/ (never
    under the sensor's own prefix), as a valid edge.emotions/1 payload."""
    topic = f"edge-bench/{device_id(Config().device)}/emotions"
    with Subscriber(broker, ["edge-bench/#", "edge/#"]) as sub:
        result = _bench_json(
            "--frames", "150", "--window-s", "1", "--mqtt", f"{broker.host}:{broker.port}"
        )
        assert result["windows"] >= 1
        assert result["stages"]["publish"]["n"] <= result["windows"]  # warm-up windows untimed
        got = sub.wait_for(topic, result["windows"], timeout_s=10)
    assert {m.topic for m in sub.messages} == {topic}
    assert all(m.json()["schema"] == "edge.emotions/1" for m in got)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mqtt", "localhost:notaport"), "HOST:PORT"),
        (("--source", "file:/nonexistent/clip.mp4"), "does not exist"),
        (("--frames", "0"), "--frames: 0 is out of range; accepted: a whole number >= 1"),
    ],
)
def test_bench_bad_flags_exit_2(args: tuple[str, ...], message: str) -> None:
    """A malformed broker, a missing source file or a zero frame count exits 2 with the fix."""
    res = edge("bench", *args)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr


def test_bench_realtime_reports_cpu_per_wall_second() -> None:
    """--realtime paces the frames to the clip's rate and reports CPU seconds per second of
    wall time next to the unpaced per-video-second figure (values not judged)."""
    result = _bench_json("--frames", "5", "--warmup", "1", "--realtime")
    assert isinstance(result["realtime"]["cpu_s_per_s"], float)
    assert isinstance(result["realtime"]["wall_s"], float)


def test_bench_reads_the_pipelines_own_timings_without_wrapping() -> None:
    """The bench runs the pipeline `edge run` builds and takes its stage times from the
    timings that pipeline and its analyzer keep: no stage method is replaced on an instance,
    and the analyzer's own counters saw exactly the detections and classified faces the
    bench reports."""
    from edge.app import sample_video
    from edge.inference.analyzer import FaceAnalyzer
    from edge.tools.bench.runner import NullSink, run_bench

    config = Config.model_validate({"camera": {"source": f"file:{sample_video()}"}})
    analyzer = FaceAnalyzer.from_config(config)
    result = run_bench(config, frames=12, warmup=0, sinks=[NullSink()], analyzer=analyzer)
    for obj, method in (
        (analyzer.detector, "detect"), (analyzer.classifier, "infer"),
        (analyzer.classifier, "crop_into"), (analyzer, "classify"),
    ):  # fmt: skip
        assert getattr(obj, method).__func__ is getattr(type(obj), method), method
    stages = result["stages"]
    assert stages["detect"]["n"] == analyzer.detect_ms.count > 0
    assert stages["classify"]["n"] == stages["align"]["n"] > 0
    assert analyzer.infer_ms.count == analyzer.align_ms.count <= stages["classify"]["n"]
    assert stages["track"]["n"] == stages["aggregate"]["n"] == stages["frame"]["n"] == 12
