"""CI checks of systemd/edge.service and firmware_config/watchdog.conf.

* ``systemd-analyze verify`` must print nothing at all (it exits 0 on unknown keys, so any
  output counts as a failure). It runs on a copy whose ExecStart points at an existing binary.
* ``systemd-analyze security --offline=yes`` must report an overall exposure <= 2.0.

Both need the ``systemd`` Debian package (listed in .ci/apt-packages.txt); systemd does not have
to be PID 1, so they also run in containers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "edge.service"
WATCHDOG_CONF = REPO / "firmware_config" / "watchdog.conf"
EXEC_START = "/opt/edge/venv/bin/edge run --config /etc/edge/edge.yaml"
MAX_EXPOSURE = 2.0
# BCM2835 watchdog hardware limit, seconds.
BCM2835_MAX_S = 15


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze not found: apt-get install systemd (see .ci/apt-packages.txt)"
    return path


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [_systemd_analyze(), "--no-pager", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _directives(text: str) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(key, value)] of a unit file, keeping repeated keys in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def _values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def _checkable_copy(tmp_path: Path, extra: str = "") -> Path:
    """A copy of the unit whose ExecStart binary exists on this machine, plus ``extra`` lines."""
    true = shutil.which("true")
    assert true
    text = UNIT.read_text()
    assert EXEC_START in text
    text = text.replace("ExecStart=/opt/edge/venv/bin/edge ", f"ExecStart={true} ")
    text = text.replace("[Service]\n", f"[Service]\n{extra}", 1)
    copy = tmp_path / "edge.service"
    copy.write_text(text)
    return copy


def test_systemd_analyze_verify_prints_nothing(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit prints no warning or error at all and exits 0."""
    result = _analyze("verify", str(_checkable_copy(tmp_path)))
    assert (result.stdout + result.stderr) == "", result.stdout + result.stderr
    assert result.returncode == 0


def test_verify_check_detects_an_unknown_key(tmp_path: Path) -> None:
    """The verify check is meaningful: an unknown key produces output although rc is 0."""
    result = _analyze("verify", str(_checkable_copy(tmp_path, extra="NoSuchDirective=1\n")))
    assert "NoSuchDirective" in result.stdout + result.stderr


def test_security_exposure_at_most_two(tmp_path: Path) -> None:
    """`systemd-analyze security --offline=yes` rates the unit at exposure <= 2.0, cleanly."""
    result = _analyze("security", "--offline=yes", str(_checkable_copy(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    match = re.search(r"Overall exposure level for edge\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_runs_the_contracted_command_as_a_notify_service() -> None:
    """ExecStart, Type=notify, watchdog and restart policy are the ones the app relies on."""
    unit = _directives(UNIT.read_text())
    service = unit["Service"]
    assert _values(service, "ExecStart") == [EXEC_START]
    assert _values(service, "Type") == ["notify"]
    assert _values(service, "NotifyAccess") == ["main"]
    assert _values(service, "Restart") == ["on-failure"]
    watchdog_s = int(_values(service, "WatchdogSec")[0])
    assert 10 <= watchdog_s <= 120
    # The app exits within 5 s of SIGTERM; systemd must wait at least that long.
    assert int(_values(service, "TimeoutStopSec")[0]) > 5
    assert _values(unit["Unit"], "StartLimitBurst")
    assert _values(unit["Unit"], "StartLimitIntervalSec")
    assert _values(unit["Install"], "WantedBy") == ["multi-user.target"]


def test_unit_files_identity_and_credentials() -> None:
    """Config, state dir, MQTT credential and the video group are wired as the app expects."""
    service = _directives(UNIT.read_text())["Service"]
    assert _values(service, "ConfigurationDirectory") == ["edge"]
    assert _values(service, "StateDirectory") == ["edge"]
    assert _values(service, "LoadCredential") == ["mqtt_password:/etc/edge/mqtt_password"]
    assert _values(service, "User") == ["edge"]
    assert _values(service, "SupplementaryGroups") == ["video"]
    assert _values(service, "MemoryMax")


def test_unit_device_policy_allows_the_camera_stack_only() -> None:
    """libcamera devices are allowed explicitly, plus read-write access to /dev/vchiq for
    vcgencmd's throttling flags (vcgencmd opens it O_RDWR: a read-only allowance makes the
    open fail under DevicePolicy=closed); PrivateDevices=yes (breaks libcamera) is absent."""
    service = _directives(UNIT.read_text())["Service"]
    assert _values(service, "DevicePolicy") == ["closed"]
    allowed = {tuple(value.split()) for value in _values(service, "DeviceAllow")}
    assert allowed == {
        ("char-video4linux", "rw"),
        ("char-media", "rw"),
        ("char-dma_heap", "rw"),
        ("/dev/vchiq", "rw"),
    }
    assert _values(service, "PrivateDevices") in ([], ["no"])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
    ],
)
def test_unit_hardening_directive(key: str, value: str) -> None:
    """Each hardening directive the issue requires is set to its hardened value."""
    service = _directives(UNIT.read_text())["Service"]
    assert value in _values(service, key)


def test_unit_restricts_address_families_to_what_the_app_uses() -> None:
    """Only IP (MQTT), UNIX (journal, sd_notify) and NETLINK (libcamera's udev) sockets."""
    service = _directives(UNIT.read_text())["Service"]
    (families,) = _values(service, "RestrictAddressFamilies")
    assert set(families.split()) == {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}


def test_runtime_watchdog_dropin_fits_the_bcm2835() -> None:
    """watchdog.conf sets RuntimeWatchdogSec in [Manager] below the BCM2835's ~15 s ceiling."""
    manager = _directives(WATCHDOG_CONF.read_text())["Manager"]
    (value,) = _values(manager, "RuntimeWatchdogSec")
    assert value == "10s"
    assert int(value.removesuffix("s")) < BCM2835_MAX_S


FLEET_UNIT = REPO / "systemd" / "edge-fleet-collect.service"


def test_fleet_collector_unit_verifies_cleanly_and_is_confined(tmp_path: Path) -> None:
    """The fleet collector's unit: `systemd-analyze verify` prints nothing, it runs the
    documented command with the passwords as credentials, and its exposure is <= 2.0."""
    true = shutil.which("true")
    assert true
    text = FLEET_UNIT.read_text()
    command = "/opt/edge-fleet/venv/bin/edge fleet collect --config /etc/edge-fleet/fleet.yaml"
    assert f"ExecStart={command}" in text
    service = _directives(text)["Service"]
    assert _values(service, "LoadCredential") == [
        "mqtt_password:/etc/edge-fleet/mqtt_password", "db_password:/etc/edge-fleet/db_password"]
    copy = tmp_path / "edge-fleet-collect.service"
    copy.write_text(text.replace("ExecStart=/opt/edge-fleet/venv/bin/edge ", f"ExecStart={true} "))
    result = _analyze("verify", str(copy))
    assert (result.stdout + result.stderr) == "", result.stdout + result.stderr
    result = _analyze("security", "--offline=yes", str(copy))
    match = re.search(r"Overall exposure level for edge-fleet-collect\.service: (\d+\.\d+)",
                      result.stdout)
    assert match and float(match.group(1)) <= MAX_EXPOSURE, result.stdout[-600:]
