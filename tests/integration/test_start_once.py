"""Start-up work is done once: the pre-flight loads the models, builds the TLS context and
parses the camera source, and `edge run` uses exactly those (edge.preflight.Prepared)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.app import RunResult, Service
from edge.config.loader import load_document
from edge.preflight import run_preflight
from tests.conftest import SAMPLE_VIDEO, Broker, Subscriber, clip_config
from tests.integration.test_end_to_end import start_edge, stop_edge
from tests.integration.test_mqtt_security import Pki, pki, tls_broker  # noqa: F401
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
DEVICE = "test-once"


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    wait_until(condition, timeout_s, message=what)


def test_edge_run_loads_each_model_once(broker: Broker, tmp_path: Path) -> None:
    """`edge run` logs one 'model ... loaded' line per model (detector, classifier): the
    pre-flight's load is the service's; before, each model was loaded twice."""
    config = clip_config(
        tmp_path, broker.host, broker.port, DEVICE, extra="logging:\n  level: INFO\n"
    )
    with Subscriber(broker, [f"edge/{DEVICE}/emotions"]) as sub:
        proc = start_edge(config)
        try:
            sub.wait_for(f"edge/{DEVICE}/emotions", 1, timeout_s=60)
        finally:
            rc, _took, err = stop_edge(proc)
    assert rc == 0, err
    loads = re.findall(r"model (\S+) loaded \(", err)
    assert len(loads) == 2 and len(set(loads)) == 2, err[-3000:]


def test_demo_loads_each_model_once(tmp_path: Path) -> None:
    """`edge demo` (which now runs the same pre-flight) also loads each model once."""
    res = subprocess.run(
        [sys.executable, "-m", "edge", "--log-level", "INFO", "demo", "--window-s", "2",
         "--source", f"file:{SAMPLE_VIDEO}"],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert len(re.findall(r"model (\S+) loaded \(", res.stderr)) == 2, res.stderr[-3000:]


def test_one_tls_context_serves_every_connection(
    tls_broker: tuple[Broker, int], pki: Pki, tmp_path: Path  # noqa: F811
) -> None:
    """The TLS context the pre-flight built is the one every connection of the service's
    publisher uses: after the broker restarts, the service reconnects and that same context
    has counted both TLS handshakes; the service classified with the pre-flight's models."""
    broker, tls_port = tls_broker
    password = tmp_path / "pw"
    password.write_text("right-password\n")
    path = tmp_path / "edge.yaml"
    path.write_text(
        f"device:\n  id: {DEVICE}\ncamera:\n  source: file:{SAMPLE_VIDEO}\n  loop: true\n"
        f"aggregation:\n  window_s: 1\nmqtt:\n  host: 127.0.0.1\n  port: {tls_port}\n"
        f"  username: sensor\n  password_file: {password}\n  reconnect_initial_s: 0.2\n"
        f"  reconnect_max_s: 0.5\n  tls:\n    enabled: true\n    ca_file: {pki.ca}\n"
        f"state_dir: {tmp_path / 'state'}\n"
    )
    loaded = load_document(path)
    prepared = run_preflight(loaded, {}).ready(loaded.file)
    assert prepared.tls is not None and prepared.tls.session_stats()["connect"] == 0
    stop = threading.Event()
    results: list[RunResult | BaseException] = []

    def run() -> None:
        try:
            results.append(Service(prepared, stop=stop, env={}).run())
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    thread = threading.Thread(target=run, name="service-under-test")
    with Subscriber(broker, [f"edge/{DEVICE}/emotions"]) as sub:
        thread.start()
        try:
            sub.wait_for(f"edge/{DEVICE}/emotions", 1, timeout_s=60)
            assert prepared.tls.session_stats()["connect"] == 1
            broker.stop()
            broker.start()
            _wait(lambda: prepared.tls.session_stats()["connect"] >= 2, 30, "a TLS reconnect")
            seen = len(sub.on(f"edge/{DEVICE}/emotions"))
            sub.wait_for(f"edge/{DEVICE}/emotions", seen + 1, timeout_s=30)
        finally:
            stop.set()
            thread.join(20)
    assert not thread.is_alive()
    assert len(results) == 1 and isinstance(results[0], RunResult), results
    assert prepared.analyzer.detect_ms.p50_p95() is not None  # the service ran these models
