"""`edge setup` in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): the page with the token shows the picture, a mask drawn with mouse events is saved
into the YAML file (comments kept), `edge config check` accepts it and the pipeline's privacy
filter blacks that area out; without the token the server answers 403; after the time limit
the process has exited. Also the CLI's refusals (flags, a camera held by the service)."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import load
from edge.privacy.filter import PrivacyFilter
from tests.artifacts import artifact_path
from tests.conftest import SAMPLE_VIDEO
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The mask drawn in the browser, as fractions of the frame (covers the left face of the clip).
MASK = [(0.15, 0.2), (0.42, 0.2), (0.42, 0.62), (0.15, 0.62)]


def _edge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(
        "# installation in the lobby (comment kept by the setup view)\n"
        "camera:\n"
        f"  source: file:{SAMPLE_VIDEO}   # the bundled clip\n"
        "privacy:\n"
        "  # masks are drawn with edge setup\n"
        "  masks: []\n"
        "  min_faces: 3  # k\n"
        f"state_dir: {tmp_path / 'state'}\n"
    )
    return path


class SetupProcess:
    """`edge setup` as a subprocess, its output lines collected by a thread."""

    def __init__(self, config: Path, minutes: str, listen: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "setup", "--config", str(config), "--minutes",
             minutes, "--listen", listen],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def url(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            found = re.search(r"open (http://\S+)", line)
            if found:
                return found.group(1)
        raise AssertionError("no URL printed:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1000",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    wait_until(condition, timeout_s, interval_s=0.1, message=what)


def test_browser_draws_a_mask_that_the_pipeline_applies(tmp_path: Path, browser: object) -> None:
    """Token URL -> picture shown -> a region drawn, its corner and itself moved, deleted
    with mouse events -> a mask drawn -> saved: the YAML keeps its comments and holds the
    normalised mask, `edge config check` accepts it, the privacy filter
    blacks out that area; no token -> 403; the process exits 0 at its time limit."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver: object = browser
    config = _config(tmp_path)
    setup = SetupProcess(config, "0.75", "127.0.0.2:0")  # not 127.0.0.1: token required
    try:
        url = setup.url()
        assert "?token=" in url
        base = url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "api/state", timeout=10)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(base + "?token=wrong", timeout=10)
        assert wrong.value.code == 403

        driver.get(url)  # type: ignore[attr-defined]
        status = driver.find_element(By.ID, "status")  # type: ignore[attr-defined]
        _wait(lambda: "Picture live" in status.text, 40, "the picture")
        _wait(lambda: driver.execute_script(  # type: ignore[attr-defined]
            "return picture.complete && picture.naturalWidth"), 20, "the JPEG")
        spread = driver.execute_script(  # type: ignore[attr-defined]
            "const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;"
            "let lo = 255, hi = 0; for (let i = 0; i < d.length; i += 40) "
            "{ lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); } return hi - lo;")
        assert spread > 50, "the canvas shows no picture"
        shot = artifact_path("setup-view.png")
        driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
        print(f"setup view screenshot: {shot}")

        canvas = driver.find_element(By.ID, "view")  # type: ignore[attr-defined]
        width, height = canvas.size["width"], canvas.size["height"]

        def at(x: float, y: float) -> tuple[int, int]:  # offsets from the element's centre
            return round((x - 0.5) * width), round((y - 0.5) * height)

        def points() -> list[list[list[float]]]:
            return driver.execute_script(  # type: ignore[attr-defined, no-any-return]
                "return shapes.map((s) => s.points);")

        # a region of interest: drawn, a corner moved, the whole shape moved, deleted
        driver.find_element(By.ID, "new-roi").click()  # type: ignore[attr-defined]
        actions = ActionChains(driver)  # type: ignore[arg-type]
        for x, y in [(0.6, 0.2), (0.9, 0.2), (0.9, 0.7)]:
            actions.move_to_element_with_offset(canvas, *at(x, y)).click()
        actions.perform()
        driver.find_element(By.ID, "finish").click()  # type: ignore[attr-defined]
        ActionChains(driver).move_to_element_with_offset(  # type: ignore[arg-type]
            canvas, *at(0.6, 0.2)).click_and_hold().move_to_element_with_offset(
            canvas, *at(0.55, 0.15)).release().perform()
        (roi,) = points()
        assert abs(roi[0][0] - 0.55) < 0.02 and abs(roi[0][1] - 0.15) < 0.02
        ActionChains(driver).move_to_element_with_offset(  # type: ignore[arg-type]
            canvas, *at(0.8, 0.35)).click_and_hold().move_to_element_with_offset(
            canvas, *at(0.75, 0.3)).release().perform()
        (moved,) = points()
        for (x0, y0), (x1, y1) in zip(roi, moved, strict=True):
            assert abs(x1 - (x0 - 0.05)) < 0.02 and abs(y1 - (y0 - 0.05)) < 0.02
        driver.find_element(By.ID, "delete").click()  # type: ignore[attr-defined]
        assert points() == []

        driver.find_element(By.ID, "new-mask").click()  # type: ignore[attr-defined]
        actions = ActionChains(driver)  # type: ignore[arg-type]
        for x, y in MASK:
            actions.move_to_element_with_offset(canvas, *at(x, y)).click()
        actions.perform()
        driver.find_element(By.ID, "finish").click()  # type: ignore[attr-defined]
        driver.find_element(By.ID, "save").click()  # type: ignore[attr-defined]
        _wait(lambda: "Saved to" in status.text or "Not saved" in status.text, 30, "the save")
        assert "Saved to" in status.text, status.text
        shot = artifact_path("setup-view-saved.png")
        driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
        print(f"setup view after save: {shot}")

        text = config.read_text()
        assert text.startswith("# installation in the lobby (comment kept by the setup view)\n")
        assert "  # masks are drawn with edge setup\n" in text
        assert f"file:{SAMPLE_VIDEO}   # the bundled clip" in text
        assert "  min_faces: 3  # k\n" in text
        saved = load(config)
        (mask,) = saved.privacy.masks
        assert mask.units == "normalized"
        for (x0, y0), (x1, y1) in zip(mask.polygon(), MASK, strict=True):
            assert abs(x0 - x1) < 0.02 and abs(y0 - y1) < 0.02

        check = _edge("config", "check", str(config))
        assert check.returncode == 0, check.stderr

        cap = cv2.VideoCapture(str(SAMPLE_VIDEO))
        ok, bgr = cap.read()
        cap.release()
        assert ok
        frame = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        h, w = frame.shape[:2]
        before = frame.copy()
        PrivacyFilter(saved.privacy).prepare(frame)
        inner = frame[int(0.25 * h):int(0.55 * h), int(0.2 * w):int(0.37 * w)]
        assert inner.max() == 0, "the drawn area is not blacked out"
        assert before[int(0.25 * h):int(0.55 * h), int(0.2 * w):int(0.37 * w)].max() > 0
        assert np.array_equal(frame[:, int(0.5 * w):], before[:, int(0.5 * w):])

        assert setup.proc.wait(timeout=90) == 0, "".join(setup.output)
        log = "".join(setup.output)
        assert "client 127.0.0.1 opened the session" in log
        assert "saved 1 mask(s)" in log and "time limit reached" in log
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(base + "api/state", timeout=5)
    finally:
        setup.stop()


def test_reliable_face_size_follows_frame_size_and_tiling() -> None:
    """The reliable size shown is 10 px of the detector's 192 px input scaled to the smallest
    region the detector runs on: the whole 640 px frame (34 px), or a tile of a 1280 px frame
    (tiles: auto picks 2 x 2 with 25 % overlap: 1280 / 1.75 = 731 px -> 39 px)."""
    from edge.config import Config
    from edge.inference.analyzer import FaceAnalyzer
    from edge.installer.view import reliable_face_px

    analyzer = FaceAnalyzer.from_config(Config())
    assert reliable_face_px(analyzer, 640, 480) == 34
    assert reliable_face_px(analyzer, 1280, 960) == 39


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "more than 0 and at most 60"),
        (["--minutes", "61"], "more than 0 and at most 60"),
        (["--minutes", "nan"], "more than 0 and at most 60"),
        (["--minutes", "ten"], "write a number of minutes"),
        (["--listen", "localhost"], "expected ADDR:PORT"),
        (["--listen", "1.2.3.4:99999"], "expected ADDR:PORT"),
    ],
)
def test_bad_flags_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    """A time limit outside (0, 60] minutes or a malformed --listen exits 2 naming the fix."""
    res = _edge("setup", "--config", str(_config(tmp_path)), *args)
    assert res.returncode == 2
    assert message in res.stderr


def test_refuses_while_the_service_holds_the_camera(tmp_path: Path) -> None:
    """While `edge run` holds the state directory, `edge setup` exits 1 and says how to
    proceed (stop the service or pause it), without opening the camera."""
    from edge.service.state import exclusive_state_dir

    config = _config(tmp_path)
    (tmp_path / "state").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    with exclusive_state_dir(tmp_path / "state"):
        res = _edge("setup", "--config", str(config), "--listen", "127.0.0.1:0", env=env)
    assert res.returncode == 1
    assert f"pid {os.getpid()}" in res.stderr and "holds the camera" in res.stderr
    assert "systemctl stop edge" in res.stderr
