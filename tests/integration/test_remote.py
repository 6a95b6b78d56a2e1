"""Remote pause, Home Assistant discovery, telemetry and the retained state, on `edge run`
against a real Mosquitto."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import REPO_ROOT, Broker, Subscriber, clip_config
from tests.integration.test_end_to_end import start_edge, stop_edge
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
DEVICE = "test-remote"
BASE = f"edge/{DEVICE}"


def _config(tmp_path: Path, broker: Broker) -> Path:
    path = clip_config(
        tmp_path,
        broker.host,
        broker.port,
        DEVICE,
        extra="telemetry:\n  interval_s: 1\nhomeassistant:\n  enabled: true\n",
    )
    named = f"  id: {DEVICE}\n  name: Test sensor\n"
    path.write_text(path.read_text().replace(f"  id: {DEVICE}\n", named, 1))
    return path


def _send(broker: Broker, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-commander")
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _junk(rng: random.Random) -> list[bytes]:
    fixed = [b"", b"on", b"off", b"On", b" ON", b"OFF ", b"ON\n", b"1", b"0", b"true", b"null",
             b'{"state":"OFF"}', b"\x00OFF", b"OF", b"ONN", b"\xff\xfe\xfd", b"O" * 10_000]
    rand = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) for _ in range(183)]
    return [p for p in fixed + rand if p not in (b"ON", b"OFF")]


def test_commands_discovery_telemetry_state(broker: Broker, tmp_path: Path,
                                            validate_payload: Any) -> None:
    """200 junk commands change nothing (one warning, no crash); OFF pauses analysis (no
    window after the partial one, state OFF retained, survives a restart); ON resumes;
    discovery is published and re-published after HA's birth; telemetry validates; the
    retained state topic carries the last window."""
    schema = json.loads((REPO_ROOT / "edge/schemas/telemetry-1.schema.json").read_text())
    config = _config(tmp_path, broker)
    with Subscriber(broker, [f"{BASE}/#", "homeassistant/#"], client_id="watch") as sub:
        proc = start_edge(config)
        try:
            sub.wait_for(f"{BASE}/emotions", 2, timeout_s=60)
            assert [m.payload for m in sub.on(f"{BASE}/analysis/state")] == [b"ON"]
            discovery = sub.wait_for(f"homeassistant/device/{DEVICE}/config", 1, timeout_s=5)
            assert discovery[0].json()["device"]["name"] == "Test sensor"
            telemetry = sub.wait_for(f"{BASE}/telemetry", 1, timeout_s=10)[0].json()
            jsonschema.validate(telemetry, schema)
            assert telemetry["analysis"] == "ON" and telemetry["fps_processed"] > 0

            _send(broker, f"{BASE}/analysis/set", _junk(random.Random(3)))
            before = len(sub.on(f"{BASE}/emotions"))
            sub.wait_for(f"{BASE}/emotions", before + 2, timeout_s=10)
            assert proc.poll() is None
            assert [m.payload for m in sub.on(f"{BASE}/analysis/state")] == [b"ON"]

            _send(broker, "homeassistant/status", [b"online"])
            sub.wait_for(f"homeassistant/device/{DEVICE}/config", 2, timeout_s=8)

            _send(broker, f"{BASE}/analysis/set", [b"OFF"])
            sub.wait_for(f"{BASE}/analysis/state", 2, timeout_s=5)
            wait_until(lambda: sub.on(f"{BASE}/emotions")[-1].json()["partial"], 10,
                       message="the open window published as partial on pause")
            paused_at = len(sub.on(f"{BASE}/emotions"))
            # Nothing may be published while paused: wait for three more telemetry messages
            # (1 s interval: the loop ran for two window lengths) instead of a fixed sleep.
            told = len(sub.on(f"{BASE}/telemetry"))
            sub.wait_for(f"{BASE}/telemetry", told + 3, timeout_s=20)
            assert len(sub.on(f"{BASE}/emotions")) == paused_at, "window published while paused"
            assert sub.on(f"{BASE}/telemetry")[-1].json()["analysis"] == "OFF"
        finally:
            rc, _took, err = stop_edge(proc)
        assert rc == 0, err
        assert err.count("ignored analysis command") == 1, err
        assert "Traceback" not in err
        windows = [m.json() for m in sub.on(f"{BASE}/emotions")]
        for doc in windows:
            validate_payload(doc)

    with Subscriber(broker, [f"{BASE}/#"], client_id="late") as late:
        state = late.wait_for(f"{BASE}/state", 1, timeout_s=5)[0]
        assert state.retain and state.json()["seq"] == windows[-1]["seq"]
        validate_payload(state.json())
        retained = late.wait_for(f"{BASE}/analysis/state", 1, timeout_s=5)[0]
        assert retained.payload == b"OFF" and retained.retain

        again = start_edge(config)
        try:
            # the restarted loop runs (three live telemetry messages, 1 s apart: longer than
            # two 1 s windows) and still publishes no window
            wait_until(lambda: len([m for m in late.on(f"{BASE}/telemetry") if not m.retain]) >= 3,
                       60, message="three telemetry messages from the restarted service")
            assert late.on(f"{BASE}/emotions") == [], "paused state not kept across restart"
            _send(broker, f"{BASE}/analysis/set", [b"ON"])
            late.wait_for(f"{BASE}/emotions", 2, timeout_s=20)
        finally:
            rc, _took, err = stop_edge(again)
        assert rc == 0, err
    seqs = [m.json()["seq"] for m in late.on(f"{BASE}/emotions")]
    assert seqs[0] == windows[-1]["seq"] + 1, "a pause must not leave a gap in seq"


def test_a_flood_of_toggles_is_coalesced(broker: Broker, tmp_path: Path,
                                         validate_payload: Any) -> None:
    """428 alternating OFF/ON commands within about 11 s (the rate of the reported flood,
    ten times as dense) change analysis at most once per MIN_TOGGLE_S: few retained state
    publishes, one 'analysis switched' log line (and state-file write) per change, one
    'coalesced' warning; no partial window shorter than MIN_TOGGLE_S before the shutdown's;
    the last command wins."""
    from edge.service.pause import MIN_TOGGLE_S

    config = _config(tmp_path, broker)
    config.write_text(config.read_text().replace("  window_s: 1\n", "  window_s: 10\n"))
    toggles = [b"OFF" if i % 2 == 0 else b"ON" for i in range(428)]
    with Subscriber(broker, [f"{BASE}/#"], client_id="flood-watch") as sub:
        proc = start_edge(config)
        try:
            sub.wait_for(f"{BASE}/analysis/state", 1, timeout_s=60)
            sub.wait_for(f"{BASE}/telemetry", 1, timeout_s=30)  # the loop runs
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-flooder")
            client.connect(broker.host, broker.port)
            client.loop_start()
            pace = threading.Event()  # never set: waits pace the flood (a load generator)
            t0 = time.monotonic()
            infos = []
            for i, payload in enumerate(toggles):
                pace.wait(max(0.0, t0 + i * 0.025 - time.monotonic()))
                infos.append(client.publish(f"{BASE}/analysis/set", payload, qos=1))
            flood_s = time.monotonic() - t0
            for info in infos:
                info.wait_for_publish(10)
            client.disconnect()
            client.loop_stop()
            deadline = time.monotonic() + 3 * MIN_TOGGLE_S
            while sub.on(f"{BASE}/analysis/state")[-1].payload != b"ON":
                assert time.monotonic() < deadline, "the last command (ON) was not applied"
                pace.wait(0.05)
        finally:
            rc, _took, err = stop_edge(proc)
        assert rc == 0, err
    states = [m.payload for m in sub.on(f"{BASE}/analysis/state")]
    changes = len(states) - 1  # the first is the state announced at start
    assert 1 <= changes <= flood_s / MIN_TOGGLE_S + 2, (states, err[-4000:])
    assert all(a != b for a, b in itertools.pairwise(states)), states
    assert err.count("analysis switched") == changes, err[-3000:]
    assert err.count("coalesced, the latest wins") == 1, err[-3000:]
    windows = [m.json() for m in sub.on(f"{BASE}/emotions")]
    for doc in windows:
        validate_payload(doc)
    partial = [w for w in windows[:-1] if w["partial"]]
    assert len(partial) <= states.count(b"OFF")
    for w in partial:
        span_s = (_ts(w["window_end"]) - _ts(w["window_start"]))
        assert span_s >= MIN_TOGGLE_S - 0.01, w
    assert "Traceback" not in err


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
