"""A real Home Assistant (2025.4.4, from scripts/ha-venv.sh) against `edge run` through a real
Mosquitto: onboarding and the MQTT config entry via HA's REST API, then the device, every
entity's state, the switch, availability on stop and SIGKILL, and rediscovery after a birth.

Needs the venv at $EDGE_HA_VENV (default /opt/edge-ci/ha-venv); fails, never skips, without.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.publish.homeassistant import (
    CAMERA_AVAILABLE,
    HA_REPUBLISH_DELAY_S,
    ha_discovery_message,
)
from edge.publish.topics import Topics
from tests.conftest import Broker, Subscriber, clip_config, free_port
from tests.integration.test_end_to_end import start_edge, stop_edge
from tests.integration.test_remote import _send

pytestmark = pytest.mark.integration
HA_VENV = Path(os.environ.get("EDGE_HA_VENV", "/opt/edge-ci/ha-venv"))
DEVICE = "test-ha"
BASE = f"edge/{DEVICE}"
DISCOVERY = f"homeassistant/device/{DEVICE}/config"
EXPRESSION_KEYS = ("faces", "dominant", "valence", "angry", "disgust", "fear", "happy", "sad",
                   "surprise", "neutral")


def wait_until(what: str, fn: Callable[[], Any], timeout_s: float) -> Any:
    """Poll ``fn`` until it returns something truthy; fail naming ``what`` after the limit."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached in {timeout_s} s; last: {last!r}")


@dataclass
class HomeAssistant:
    url: str
    token: str = ""

    def call(self, method: str, path: str, body: Any = None, form: bool = False) -> Any:
        data = None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text.startswith(("{", "[")) else text

    def template(self, template: str, **variables: Any) -> str:
        result: str = self.call("POST", "/api/template",
                                {"template": template, "variables": variables})
        return result.strip()

    def state(self, entity_id: str) -> str:
        return str(self.call("GET", f"/api/states/{entity_id}")["state"])


def _onboard(ha: HomeAssistant, broker: Broker) -> None:
    """Owner user -> auth code -> token; then the MQTT config entry on our test broker."""
    client_id = ha.url + "/"
    user = ha.call("POST", "/api/onboarding/users", {
        "client_id": client_id, "name": "CI", "username": "ci", "password": "ci-password-1",
        "language": "en"})
    token = ha.call("POST", "/auth/token", {
        "grant_type": "authorization_code", "code": user["auth_code"], "client_id": client_id},
        form=True)
    ha.token = token["access_token"]
    flow = ha.call("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
    if flow.get("type") == "form" and flow.get("step_id") != "broker":
        flow = ha.call("POST", f"/api/config/config_entries/flow/{flow['flow_id']}",
                       {"next_step_id": "broker"})
    done = ha.call("POST", f"/api/config/config_entries/flow/{flow['flow_id']}",
                   {"broker": broker.host, "port": broker.port})
    assert done.get("type") == "create_entry", done


@pytest.fixture
def home_assistant(broker: Broker, tmp_path: Path) -> Iterator[HomeAssistant]:
    hass = HA_VENV / "bin" / "hass"
    if not hass.exists():
        pytest.fail(f"{hass} is missing: run scripts/ha-venv.sh (.ci/run does)")
    port = free_port()
    config = tmp_path / "ha"
    config.mkdir()
    (config / "configuration.yaml").write_text(
        "homeassistant:\n  name: edge-ci\n  latitude: 0\n  longitude: 0\n  elevation: 0\n"
        "  unit_system: metric\n  time_zone: UTC\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        "api:\nconfig:\nonboarding:\n")
    log = (tmp_path / "hass.log").open("wb")
    proc = subprocess.Popen([str(hass), "-c", str(config), "--skip-pip"], stdout=log,
                            stderr=subprocess.STDOUT)
    ha = HomeAssistant(f"http://127.0.0.1:{port}")
    try:
        t0 = time.monotonic()
        wait_until("HA answering", lambda: ha.call("GET", "/api/onboarding"), 180)
        print(f"\nHA started in {time.monotonic() - t0:.1f} s")
        _onboard(ha, broker)
        yield ha
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _entities(ha: HomeAssistant) -> dict[str, str]:
    """unique id suffix -> entity id, for the entities of our device."""
    raw = ha.template(
        "{% set ns = namespace(out=[]) %}{% for e in integration_entities('mqtt') %}"
        "{% set ns.out = ns.out + [e] %}{% endfor %}{{ ns.out | join(',') }}")
    ids = [e for e in raw.split(",") if e]
    doc = json.loads(
        ha_discovery_message(Topics("edge", DEVICE), discovery_prefix="homeassistant",
                             device_name="HA test", version="x").payload)
    out = {}
    for key, comp in doc["components"].items():
        slug = re.sub(r"[^a-z0-9]+", "_", comp["name"].lower()).strip("_")
        for entity in ids:
            if entity == f"{comp['platform']}.ha_test_{slug}":
                out[key] = entity
    return out


def test_real_home_assistant(home_assistant: HomeAssistant, broker: Broker,
                             tmp_path: Path) -> None:
    """HA creates one device with all 14 entities (the camera state among them), each with a
    valid state; the switch pauses our analysis (window sensors unavailable) and resumes it;
    20 births give one re-announcement; SIGTERM and SIGKILL both make every entity
    unavailable; turning discovery off removes the device; HA renders the camera availability
    template as intended."""
    ha = home_assistant
    config = clip_config(tmp_path, broker.host, broker.port, DEVICE,
                         extra="telemetry:\n  interval_s: 1\nhomeassistant:\n  enabled: true\n")
    config.write_text(config.read_text().replace(f"  id: {DEVICE}\n",
                                                 f"  id: {DEVICE}\n  name: HA test\n", 1))
    with Subscriber(broker, [f"{BASE}/#", "homeassistant/device/#"], client_id="ha-watch") as sub:
        proc = start_edge(config)
        try:
            entities = wait_until("14 entities in HA", lambda: len(_entities(ha)) == 14
                                  and _entities(ha), 90)
            print(f"HA ENTITIES: {sorted(entities.values())}")
            device = ha.template(f"{{{{ device_attr(device_id('{entities['faces']}'), 'name') }}}}")
            assert device == "HA test"
            states = wait_until("valid states", lambda: all(
                ha.state(e) not in ("unknown", "unavailable")
                for k, e in entities.items() if k in ("faces", "fps", "outbox", "analysis"))
                and {k: ha.state(e) for k, e in entities.items()}, 60)
            print(f"HA STATES: {states}")
            float(states["faces"]), float(states["fps"]), int(states["outbox"])
            assert states["analysis"] == "on"
            assert wait_until("camera ok", lambda: ha.state(entities["camera"]) == "ok", 30)

            ha.call("POST", "/api/services/switch/turn_off", {"entity_id": entities["analysis"]})
            wait_until("analysis OFF from HA", lambda: sub.on(f"{BASE}/analysis/state")
                       and sub.on(f"{BASE}/analysis/state")[-1].payload == b"OFF", 20)
            wait_until("window sensors unavailable while paused", lambda: all(
                ha.state(entities[k]) == "unavailable" for k in EXPRESSION_KEYS), 20)
            assert ha.state(entities["fps"]) != "unavailable"
            ha.call("POST", "/api/services/switch/turn_on", {"entity_id": entities["analysis"]})
            wait_until("window sensors back", lambda: ha.state(entities["faces"])
                       not in ("unavailable", "unknown"), 30)

            before = len(sub.on(DISCOVERY))
            for _ in range(20):
                _send(broker, "homeassistant/status", [b"online"])
            births_sent = time.monotonic()
            wait_until("one re-announcement", lambda: len(sub.on(DISCOVERY)) > before, 15)
            # Nothing more may come: an answer to any of the 20 births would be due at most
            # HA_REPUBLISH_DELAY_S[1] after it; wait that long (plus 1 s for delivery), no more.
            time.sleep(max(0.0, births_sent + HA_REPUBLISH_DELAY_S[1] + 1.0 - time.monotonic()))
            assert len(sub.on(DISCOVERY)) == before + 1, "births not debounced"
        finally:
            rc, _took, err = stop_edge(proc)
        assert rc == 0, err
        wait_until("all unavailable after SIGTERM", lambda: all(
            ha.state(e) == "unavailable" for e in entities.values()), 20)

        again = start_edge(config)
        try:
            wait_until("available again", lambda: ha.state(entities["fps"]) != "unavailable", 60)
        finally:
            again.send_signal(signal.SIGKILL)
            again.communicate(timeout=10)
        wait_until("all unavailable after SIGKILL (last will)", lambda: all(
            ha.state(e) == "unavailable" for e in entities.values()), 30)

    off = config.read_text().replace("homeassistant:\n  enabled: true\n",
                                     "homeassistant:\n  enabled: false\n")
    config.write_text(off)
    third = start_edge(config)
    try:
        wait_until("device removed from HA after discovery was turned off",
                   lambda: _entities(ha) == {}, 60)
    finally:
        rc, _took, err = stop_edge(third)
    assert rc == 0, err
    assert "removing the discovery on " + DISCOVERY in err, err

    lost = {"camera": {"state": "lost", "since": "2026-01-01T00:00:00.000Z",
                       "reopen_attempts": 3}}
    assert ha.template(CAMERA_AVAILABLE, value_json=lost) == "offline"
    ok = {"camera": {"state": "ok", "since": "2026-01-01T00:00:00.000Z", "reopen_attempts": 0}}
    assert ha.template(CAMERA_AVAILABLE, value_json=ok) == "online"
    assert ha.template(CAMERA_AVAILABLE, value_json={}) == "online"
