"""`edge fleet web`: the dashboard over a real PostgreSQL filled by the collector's own
store code, its API (k-anonymity of shares, export), the token rule, and the page in a
real headless Chromium (plots drawn with data; a screenshot is kept as an artifact)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.contract import PayloadDecoder
from edge.fleet.rows import BatchBuilder, Incoming
from edge.fleet.simulate import synthetic_window
from edge.fleet.store import Store
from edge.publish.message import ModelIds
from edge.publish.topics import Topics
from edge.publish.window import window_message
from edge.types import Window
from tests.conftest import REPO_ROOT, free_port
from tests.fleetparts import wait_until

pytestmark = pytest.mark.integration
MODELS = ModelIds("d@000000000000", "c@000000000000")


def _fill(dsn: str) -> None:
    """Three hours of 1-minute windows from three devices in two sites; `quiet-1` only ever
    has suppressed windows (fewer than k faces)."""
    rng = random.Random(1)
    now = datetime.now(UTC).timestamp()
    messages = []
    for device in ("lobby-1", "lobby-2", "quiet-1"):
        topics = Topics("edge", device)
        for i in range(180):
            start = now - (180 - i) * 60
            window = synthetic_window(start, start + 60, rng)
            if device == "quiet-1":  # 2 faces: below k = 3
                window = Window(start, start + 60, 2, 0.5, 3.0, None, None, None, None, None,
                                10, True, False)
            msg = window_message(window, seq=i + 1, topics=topics, models=MODELS, qos=1,
                                 epoch="0" * 15 + "1")
            messages.append(Incoming(msg.topic, msg.payload, 0, 1, 0, now))
    with Store(dsn, retention_days=30) as store:
        store.migrate()
        store.assign_sites({"lobby": ["lobby-1", "lobby-2"], "quiet": ["quiet-1"]})
        store.maintain(datetime.now(UTC))
        batch = BatchBuilder("edge", 30, PayloadDecoder()).build(messages, datetime.now(UTC))
        assert not batch.dead
        assert store.write(batch) == 540


@pytest.fixture
def dashboard(postgres: Any, tmp_path: Path) -> Iterator[str]:
    _fill(postgres.dsn)
    port = free_port()
    log = (tmp_path / "web.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "fleet", "web", "--dsn", postgres.dsn, "--listen",
         f"127.0.0.1:{port}"], stdout=log, stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(url + "/api/sites")[0] == 200, 30, "dashboard up")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def test_api_shows_devices_and_never_shares_from_suppressed_windows(dashboard: str) -> None:
    """The devices list has the registry and gaps; a site whose windows were all suppressed
    has face counts but no shares; the other site's shares sum to 1; CSV and JSON exports
    carry the same series; vendored files are served, '..' is not; without a token a
    request for another Host (DNS rebinding) is refused with 421."""
    status, body = _get(dashboard + "/api/devices")
    devices = {d["device"]: d for d in json.loads(body)["devices"]}
    assert status == 200 and set(devices) == {"lobby-1", "lobby-2", "quiet-1"}
    assert devices["lobby-1"]["site"] == "lobby" and devices["lobby-1"]["missing"] == 0
    quiet = json.loads(_get(dashboard + "/api/series?site=quiet")[1])["series"]
    assert quiet and all(r["happy"] is None and r["valence"] is None for r in quiet)
    assert sum(r["windows"] for r in quiet) == sum(r["suppressed_windows"] for r in quiet) == 180
    lobby = json.loads(_get(dashboard + "/api/series?site=lobby")[1])["series"]
    assert sum(r["windows"] for r in lobby) == 360
    shares = [r for r in lobby if r["happy"] is not None]
    assert shares
    for row in shares:
        assert sum(row[e] for e in ("angry", "disgust", "fear", "happy", "sad", "surprise",
                                    "neutral")) == pytest.approx(1.0, abs=1e-3)
    status, text = _get(dashboard + "/api/export?format=csv&site=lobby&unit=day")
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert status == 200 and sum(int(r["windows"]) for r in rows) == 360
    status, text = _get(dashboard + "/api/export?format=json&device=quiet-1")
    assert status == 200 and json.loads(text)["series"] == quiet
    assert _get(dashboard + "/api/series?unit=week")[0] == 400
    assert _get(dashboard + "/static/../web.py")[0] == 404
    status, _body = _get(dashboard + "/static/vendor/uPlot.iife.min.js")
    assert status == 200
    assert _get(dashboard + "/api/devices", {"Host": "evil.example"})[0] == 421


def test_off_loopback_needs_a_token(postgres: Any, tmp_path: Path) -> None:
    """Bound to a non-loopback address without a token the dashboard refuses to start (exit
    2, one line); with a token file every request needs the token."""
    res = subprocess.run(
        [sys.executable, "-m", "edge", "fleet", "web", "--dsn", postgres.dsn, "--listen",
         "0.0.0.0:0"], capture_output=True, text=True, timeout=30,
    )
    assert res.returncode == 2 and "needs a token" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    _fill(postgres.dsn)
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "fleet", "web", "--dsn", postgres.dsn, "--listen",
         f"127.0.0.1:{port}", "--token-file", str(token)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/sites"
    try:
        wait_until(lambda: _get(url)[0] == 401, 30, "dashboard up, refusing without token")
        assert _get(url, {"Authorization": "Bearer wrong"})[0] == 401
        assert _get(url, {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert _get(url + "?token=s3cret-token")[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_page_renders_plots_in_headless_chromium(dashboard: str) -> None:
    """In a real headless Chromium the page loads, lists the devices and both uPlot charts
    draw their data on canvas (non-blank pixels); the screenshot is kept under
    $EDGE_TEST_ARTIFACTS (default tests/artifacts/)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(dashboard + "/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: d.execute_script(
            "return document.body.dataset.loaded || document.body.dataset.error"))
        assert driver.execute_script("return document.body.dataset.error") is None
        rows = driver.execute_script("return document.querySelectorAll('#devices tbody tr').length")
        assert rows == 3
        for chart in ("faces-chart", "shares-chart"):
            points = driver.execute_script(
                f"return document.getElementById('{chart}').dataset.rendered")
            assert int(points) >= 3
            inked = driver.execute_script(f"""
                const c = document.querySelector('#{chart} canvas');
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
                return n;""")
            assert inked > 500, f"{chart}: canvas nearly blank ({inked} pixels)"
        artifacts = Path(os.environ.get("EDGE_TEST_ARTIFACTS", REPO_ROOT / "tests" / "artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifacts / "fleet-dashboard.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        driver.quit()
