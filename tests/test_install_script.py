"""scripts/install.sh: shellcheck on every shell script, and --dry-run behaviour.

The dry runs put logging stubs for every system-changing command first on PATH, so the tests
prove that --dry-run prints the steps and executes none of them. apt-cache, uname, dpkg and
/etc/os-release are faked too (env FAKE_*, EDGE_OS_RELEASE), so the results do not depend on
the machine running the tests. Needs the Debian package shellcheck. The full install on
emulated arm64 Debian (scripts/arm64-check.sh) is run by .ci/run, not by pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL_SH = REPO / "scripts" / "install.sh"
WHEELHOUSE_SH = REPO / "scripts" / "wheelhouse.sh"
ARM64_CHECK_SH = REPO / "scripts" / "arm64-check.sh"
CONSTRAINTS = REPO / "scripts" / "constraints"
MUTATING = (
    "apt-get", "useradd", "usermod", "userdel", "systemctl", "install", "rm", "cp", "chown",
    "chmod", "pip", "pip3",
)  # fmt: skip
STUB = r"""#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
[ "$(basename "$0") $1" = "${STUB_FAIL:-}" ] && exit "${STUB_FAIL_RC:-100}"
exit 0
"""
# dpkg-query: nothing installed; id: root for `id -u` (or $FAKE_UID), no user `edge`;
# apt-cache policy: candidate $FAKE_CANDIDATE (empty: apt knows no such package), queries
# logged to $APT_CACHE_LOG; uname -m: $FAKE_ARCH; dpkg --print-architecture: $FAKE_DPKG_ARCH.
QUERY_STUBS = {
    "dpkg-query": "#!/bin/sh\nexit 1\n",
    "id": '#!/bin/sh\n[ "$1" = -u ] && { echo "${FAKE_UID:-0}"; exit 0; }\nexit 1\n',
    "getent": "#!/bin/sh\nexit 0\n",
    "apt-cache": (
        '#!/bin/sh\necho "apt-cache $*" >>"$APT_CACHE_LOG"\n'
        '[ -n "$FAKE_CANDIDATE" ] || exit 0\n'
        'printf \'%s:\\n  Installed: (none)\\n  Candidate: %s\\n\' "$2" "$FAKE_CANDIDATE"\n'
    ),
    "uname": '#!/bin/sh\necho "$FAKE_ARCH"\n',
    "dpkg": '#!/bin/sh\n[ "$1" = --print-architecture ] && echo "$FAKE_DPKG_ARCH"\n',
}


def _shell_scripts() -> list[Path]:
    """Every shell script in the repository (by suffix or shebang), outside .git/.venv."""
    found = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if not path.is_file() or rel.parts[0] in {".git", ".venv"} or "node_modules" in rel.parts:
            continue
        if path.suffix == ".sh":
            found.append(path)
            continue
        with path.open("rb") as fh:
            head = fh.readline(100)
        if head.startswith(b"#!") and head.rstrip().split(b"/")[-1] in {
            b"sh",
            b"bash",
            b"env bash",
        }:
            found.append(path)
    return sorted(found)


def test_shell_scripts_are_found() -> None:
    """The shellcheck test really covers the install, wheelhouse, arm64-check and firstrun
    scripts."""
    scripts = _shell_scripts()
    assert INSTALL_SH in scripts
    assert WHEELHOUSE_SH in scripts
    assert ARM64_CHECK_SH in scripts
    assert REPO / "firmware_config" / "firstrun.sh" in scripts


@pytest.mark.parametrize("script", _shell_scripts(), ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_is_clean(script: Path) -> None:
    """shellcheck reports nothing (all severities) for the script."""
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck not found: apt-get install shellcheck"
    result = subprocess.run(
        [shellcheck, "--external-sources", str(script)],
        capture_output=True,
        text=True,
        check=False,
        cwd=script.parent,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, str]:
    """Environment with logging stubs for system-changing commands first on PATH."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in MUTATING:
        (stubs / name).write_text(STUB)
    for name, text in QUERY_STUBS.items():
        (stubs / name).write_text(text)
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    os_release = tmp_path / "os-release"
    os_release.write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    return {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "log"),
        "APT_CACHE_LOG": str(tmp_path / "apt-cache.log"),
        "FAKE_CANDIDATE": "0.3.12-1",
        "FAKE_ARCH": "aarch64",
        "FAKE_DPKG_ARCH": "arm64",
        "EDGE_OS_RELEASE": str(os_release),
    }


def _install(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL_SH), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )


def _calls(env: dict[str, str]) -> str:
    log = Path(env["STUB_LOG"])
    return log.read_text() if log.exists() else ""


def test_dry_run_prints_every_install_step_and_runs_none(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    """--dry-run lists apt, user, venv, numpy pin, pip, config, unit and enable; executes none."""
    prefix = tmp_path / "opt-edge"
    result = _install(sandbox, "--dry-run", "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = [
        "apt-get install -y --no-install-recommends",
        "python3-picamera2",
        "python3-venv",
        "useradd --system --user-group",
        "usermod -a -G video edge",
        f"-m venv --system-site-packages {prefix}/venv",
        "numpy==",
        f"pip install --upgrade --upgrade-strategy only-if-needed --constraint {prefix}/",
        "install -m 0600 /dev/null /etc/edge/mqtt_password",
        "/etc/systemd/system/edge.service",
        "/etc/systemd/system.conf.d/edge-watchdog.conf",
        "systemctl enable edge.service",
    ]
    for step in expected:
        assert step in out, f"missing {step!r} in:\n{out}"
    assert _calls(sandbox) == ""
    assert not prefix.exists()


def test_dry_run_offline_from_a_wheelhouse(sandbox: dict[str, str], tmp_path: Path) -> None:
    """--wheelhouse DIR installs with pip --no-index --find-links DIR (no network)."""
    house = tmp_path / "wheels"
    house.mkdir()
    wheel = house / "edge_emotion-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    result = _install(
        sandbox, "--dry-run", "--wheelhouse", str(house), "--wheel", str(wheel),
        "--prefix", str(tmp_path / "p"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"--no-index --find-links {house}" in result.stdout
    assert f"{tmp_path}/p/wheels/{wheel.name}" in result.stdout
    assert _calls(sandbox) == ""


def test_dry_run_uninstall_purge(sandbox: dict[str, str], tmp_path: Path) -> None:
    """--uninstall --purge --dry-run lists the removals and executes none of them."""
    prefix = tmp_path / "opt-edge"
    result = _install(sandbox, "--dry-run", "--uninstall", "--purge", "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert "rm -f /etc/systemd/system/edge.service" in result.stdout
    assert f"rm -rf {prefix}" in result.stdout
    assert "rm -rf /etc/edge /var/lib/edge" in result.stdout
    assert _calls(sandbox) == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option: --bogus"),
        (["--dry-run", "--wheel", "/nonexistent.whl"], "--wheel /nonexistent.whl: no such file"),
        (["--dry-run", "--prefix", "/"], "refusing a system directory"),
        (["--dry-run", "--prefix", "relative/dir"], "must be an absolute path"),
        (["--dry-run", "--config", "/nonexistent.yaml"], "--config /nonexistent.yaml"),
    ],
)
def test_bad_arguments_exit_2(sandbox: dict[str, str], args: list[str], message: str) -> None:
    """Invalid options exit 2 with a message naming the option, before changing anything."""
    result = _install(sandbox, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert _calls(sandbox) == ""


def test_real_run_requires_root(sandbox: dict[str, str]) -> None:
    """Without --dry-run a non-root user gets exit 2 and a hint, and nothing runs."""
    result = _install({**sandbox, "FAKE_UID": "1000"})
    assert result.returncode == 2
    assert "run as root" in result.stderr and "--dry-run" in result.stderr
    assert _calls(sandbox) == ""


def _apt_install_line(out: str) -> str:
    lines = [line for line in out.splitlines() if "apt-get install" in line]
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize("candidate", ["(none)", ""], ids=["no-candidate", "unknown-package"])
def test_picamera2_not_installable_one_line_and_the_rest_installs(
    sandbox: dict[str, str], tmp_path: Path, candidate: str
) -> None:
    """When apt has no candidate for python3-picamera2 (plain Debian, no Raspberry Pi archive),
    install.sh says so in exactly one line naming the sources that still work, leaves both
    camera packages out of apt-get install and carries on to the unit."""
    result = _install(
        {**sandbox, "FAKE_CANDIDATE": candidate}, "--dry-run", "--prefix", str(tmp_path / "p")
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    notes = [line for line in out.splitlines() if "not installable" in line]
    assert len(notes) == 1, out
    assert "picamera2 will not work" in notes[0] and "rtsp://" in notes[0], notes[0]
    apt_line = _apt_install_line(result.stdout)
    assert "python3-venv" in apt_line and "python3-numpy" in apt_line
    assert " passwd" in apt_line  # useradd: not in a minimal trixie rootfs
    assert "picamera2" not in apt_line and "libcamera" not in apt_line
    assert "systemctl enable edge.service" in result.stdout
    assert "apt-cache policy python3-picamera2" in Path(sandbox["APT_CACHE_LOG"]).read_text()


def test_no_picamera2_skips_the_camera_packages_without_asking_apt(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    """--no-picamera2 leaves python3-picamera2/python3-libcamera out on purpose, even when apt
    could install them, and does not query apt-cache for them."""
    result = _install(sandbox, "--dry-run", "--no-picamera2", "--prefix", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    assert "--no-picamera2: not installing python3-picamera2 python3-libcamera" in result.stdout
    apt_line = _apt_install_line(result.stdout)
    assert "picamera2" not in apt_line and "libcamera" not in apt_line
    assert "not installable" not in result.stdout + result.stderr
    assert not Path(sandbox["APT_CACHE_LOG"]).exists()


@pytest.mark.parametrize(
    ("machine", "dpkg_arch"),
    [("armv7l", "armhf"), ("armv6l", "armhf"), ("aarch64", "armhf"), ("i686", "i386")],
    ids=["armv7l", "armv6l", "64-bit-kernel-32-bit-userland", "i686"],
)
def test_refuses_anything_but_a_64_bit_os(
    sandbox: dict[str, str], tmp_path: Path, machine: str, dpkg_arch: str
) -> None:
    """On a 32-bit OS (armv7l, or a Pi's 64-bit kernel under 32-bit armhf Raspberry Pi OS) it
    exits 2 saying a 64-bit OS is needed and why, before running anything."""
    env = {**sandbox, "FAKE_ARCH": machine, "FAKE_DPKG_ARCH": dpkg_arch}
    result = _install(env, "--dry-run", "--prefix", str(tmp_path / "p"))
    assert result.returncode == 2
    assert "needs a 64-bit OS" in result.stderr and "Raspberry Pi OS Lite (64-bit)" in result.stderr
    assert "DRY-RUN" not in result.stdout
    assert _calls(sandbox) == ""


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_constraints_file_chosen_from_os_release(
    sandbox: dict[str, str], tmp_path: Path, release: str
) -> None:
    """The pip constraints come from scripts/constraints/<VERSION_CODENAME>.txt, plus apt's
    numpy pin, and pip is run with them."""
    os_release = tmp_path / "os-release"
    os_release.write_text(f"ID=debian\nVERSION_CODENAME={release}\n")
    prefix = tmp_path / "p"
    result = _install(sandbox, "--dry-run", "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert f"pip constraints for {release}: " in result.stdout
    assert f"scripts/constraints/{release}.txt + numpy==" in result.stdout
    assert f"--constraint {prefix}/constraints.txt" in result.stdout
    assert "no pip constraints" not in result.stderr


def test_unknown_release_warns_and_pins_only_numpy(sandbox: dict[str, str], tmp_path: Path) -> None:
    """A release without a constraints file (e.g. Ubuntu noble) gets a one-line warning and
    only the numpy pin; the install goes on."""
    (tmp_path / "os-release").write_text("ID=ubuntu\nVERSION_CODENAME=noble\n")
    result = _install(sandbox, "--dry-run", "--prefix", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    assert "no pip constraints for 'noble'" in result.stderr
    assert "(no release file) + numpy==" in result.stdout


def test_install_sh_alone_on_bookworm_still_bounds_opencv(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    """install.sh copied without scripts/constraints/ (as edge provision copies it, with the unit
    and watchdog.conf, onto the boot partition) still keeps pip from backtracking on bookworm:
    it pins opencv-python-headless<4.12 besides numpy."""
    alone = tmp_path / "boot" / "install.sh"
    alone.parent.mkdir()
    shutil.copy(INSTALL_SH, alone)
    # What edge provision puts beside it on the boot partition.
    shutil.copy(REPO / "systemd" / "edge.service", alone.parent)
    shutil.copy(REPO / "firmware_config" / "watchdog.conf", alone.parent)
    result = subprocess.run(
        ["bash", str(alone), "--dry-run", "--prefix", str(tmp_path / "p")],
        capture_output=True, text=True, check=False, env=sandbox, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "constraints/bookworm.txt not found beside install.sh" in result.stderr
    assert "(no release file) opencv-python-headless<4.12 + numpy==" in result.stdout


def test_wheelhouse_brings_its_constraints_and_the_project_wheel(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    """--wheelhouse DIR alone: the constraints copy in DIR (from scripts/wheelhouse.sh) is used
    and the newest edge_emotion wheel in DIR is installed, offline."""
    house = tmp_path / "house"
    house.mkdir()
    for version in ("0.1.0", "0.2.0"):
        (house / f"edge_emotion-{version}-py3-none-any.whl").write_bytes(b"")
    (house / "constraints-bookworm.txt").write_text("numpy<2\n")
    prefix = tmp_path / "p"
    result = _install(sandbox, "--dry-run", "--wheelhouse", str(house), "--prefix", str(prefix))
    assert result.returncode == 0, result.stderr
    assert f"pip constraints for bookworm: {house}/constraints-bookworm.txt" in result.stdout
    assert f"--no-index --find-links {house}" in result.stdout
    assert f"{prefix}/wheels/edge_emotion-0.2.0-py3-none-any.whl" in result.stdout
    assert _calls(sandbox) == ""


@pytest.mark.parametrize(
    ("failing", "step", "fix"),
    [
        ("apt-get update", "apt-update", "/etc/apt/sources.list"),
        ("apt-get install", "apt-install", "apt-get install python3-venv"),
    ],
)
def test_a_failing_step_is_named_with_its_fix(
    sandbox: dict[str, str], tmp_path: Path, failing: str, step: str, fix: str
) -> None:
    """A real run whose apt-get fails (exit 100) ends with one error line naming the step, the
    exit code and the fix, never with a bare exit code, and runs nothing after it."""
    result = _install({**sandbox, "STUB_FAIL": failing}, "--prefix", str(tmp_path / "p"))
    assert result.returncode == 100
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"install.sh: error: step '{step}' failed (exit 100). Fix: "), last
    assert fix in last
    calls = _calls(sandbox)
    assert calls.strip().splitlines()[-1].startswith(failing), calls
    assert "useradd" not in calls


def _constraints(release: str) -> dict[str, str]:
    pins = {}
    for raw in (CONSTRAINTS / f"{release}.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9._-]+)\s*([<>=!~].*)", line)
            assert match, f"{release}.txt: cannot parse {line!r}"
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_bookworm_constraints_keep_numpy_1_and_a_matching_opencv() -> None:
    """bookworm.txt rules out numpy 2 (apt has 1.24.2) and pins an opencv-python-headless older
    than 4.12 (4.12.0.88 and later require numpy>=2), so pip never backtracks; both release files
    pin the same top-level packages."""
    bookworm, trixie = _constraints("bookworm"), _constraints("trixie")
    assert bookworm["numpy"] == ">=1.24,<2"
    opencv = bookworm["opencv-python-headless"]
    assert opencv.startswith("==")
    assert tuple(int(x) for x in opencv[2:].split(".")[:2]) < (4, 12)
    top_level = ("opencv-python-headless", "ai-edge-litert", "paho-mqtt", "pydantic", "ruamel.yaml")
    for name in top_level:
        assert name in bookworm and name in trixie, name
    assert trixie["numpy"].startswith(">=2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no DIR given"),
        (["--release", "buster", "x"], "--release: bookworm, trixie or all"),
        (["--host", "x"], "--host needs --release"),
        (["--bogus", "x"], "unknown option: --bogus"),
    ],
)
def test_wheelhouse_bad_arguments_exit_2(args: list[str], message: str) -> None:
    """scripts/wheelhouse.sh rejects bad arguments with exit 2 and a message, downloading
    nothing."""
    result = subprocess.run(
        ["bash", str(WHEELHOUSE_SH), *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.integration
def test_wheelhouse_for_this_machine_installs_offline(tmp_path: Path) -> None:
    """scripts/wheelhouse.sh --host builds a wheelhouse (project wheel, dependencies and the
    release's constraints) from which a fresh venv installs edge-emotion with no index at all
    (pip --no-index, an unreachable index URL), and the installed `edge` runs."""
    release = "trixie" if sys.version_info >= (3, 13) else "bookworm"
    house = tmp_path / "house"
    env = {**os.environ, "PYTHON": sys.executable}
    built = subprocess.run(
        ["bash", str(WHEELHOUSE_SH), "--host", "--release", release, str(house)],
        capture_output=True, text=True, check=False, env=env, timeout=900,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (house / f"constraints-{release}.txt").is_file()
    assert list(house.glob("edge_emotion-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    offline = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_NO_INDEX": "1",
    }
    installed = subprocess.run(
        [
            str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
            "--no-index", "--find-links", str(house),
            "--constraint", str(house / f"constraints-{release}.txt"), "edge-emotion",
        ],
        capture_output=True, text=True, check=False, env=offline, timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    version = subprocess.run(
        [str(venv / "bin" / "edge"), "--version"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert version.returncode == 0 and "edge-emotion" in version.stdout, version.stderr
