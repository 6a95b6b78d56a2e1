"""scripts/install.sh: shellcheck on every shell script, and --dry-run behaviour.

The dry runs put logging stubs for every system-changing command first on PATH, so the tests
prove that --dry-run prints the steps and executes none of them. Needs the Debian package
shellcheck.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL_SH = REPO / "scripts" / "install.sh"
MUTATING = (
    "apt-get", "useradd", "usermod", "userdel", "systemctl", "install", "rm", "cp", "chown",
    "chmod", "pip", "pip3",
)  # fmt: skip
STUB = r"""#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
exit 0
"""
# dpkg-query: nothing installed; id: root for `id -u` (or $FAKE_UID), no user `edge`.
QUERY_STUBS = {
    "dpkg-query": "#!/bin/sh\nexit 1\n",
    "id": '#!/bin/sh\n[ "$1" = -u ] && { echo "${FAKE_UID:-0}"; exit 0; }\nexit 1\n',
    "getent": "#!/bin/sh\nexit 0\n",
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
    """The shellcheck test really covers the install and firstrun scripts."""
    scripts = _shell_scripts()
    assert INSTALL_SH in scripts
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
    return {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "log"),
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
