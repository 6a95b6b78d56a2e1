"""scripts/dev-setup.sh, the set-up behind the README's two commands and .ci/run: it works as
root without sudo and as a user with sudo, and always runs apt-get update before install.

Runs the script with --dry-run and stubs for id, dpkg-query (nothing installed) and sudo on
PATH, so the steps are printed, none is executed, and the result does not depend on this
machine. shellcheck covers the script in tests/test_install_script.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "dev-setup.sh"
README = REPO / "README.md"


def _run(
    tmp_path: Path, uid: int, *args: str, sudo: bool = True, ha_python: bool = True
) -> subprocess.CompletedProcess[str]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    (stubs / "id").write_text(f'#!/bin/sh\n[ "$1" = -u ] && echo {uid}\n')
    (stubs / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    if sudo:
        (stubs / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    # Only the stubs and the tools the script itself needs (bash, grep, dirname, ...): no sudo
    # from the real PATH leaks in.
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("bash", "grep", "dirname", "env", "cat"):
        real = shutil.which(tool)
        assert real
        if not (tools / tool).exists():
            (tools / tool).symlink_to(real)
    env = {"PATH": f"{stubs}:{tools}", "HOME": str(tmp_path)}
    if ha_python:  # a stand-in for pyenv's Python 3.13 (never run: --dry-run)
        python = tmp_path / "python3.13"
        python.write_text("#!/bin/sh\nexit 0\n")
        python.chmod(0o755)
        env["EDGE_HA_PYTHON"] = str(python)
    return subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )


def _steps(output: str) -> list[str]:
    return [line.removeprefix("would run: ") for line in output.splitlines() if "would run" in line]


@pytest.mark.parametrize(("uid", "prefix"), [(0, ""), (1000, "sudo ")])
def test_test_setup_updates_before_installing(tmp_path: Path, uid: int, prefix: str) -> None:
    """`--test` as root runs apt-get without sudo (a root shell in a container has none), as a
    user through sudo; apt-get update comes before apt-get install, which installs mosquitto
    and every package of .ci/apt-packages.txt; then the HA venv and .venv with the test
    extras."""
    res = _run(tmp_path, uid, "--test", sudo=uid != 0)
    assert res.returncode == 0, res.stderr
    steps = _steps(res.stdout)
    apt = [s for s in steps if "apt-get" in s]
    assert [s.split("apt-get ")[1].split()[0] for s in apt] == ["update", "install"]
    assert all(s.startswith(f"{prefix}env DEBIAN_FRONTEND=noninteractive apt-get") for s in apt)
    listed = re.findall(r"^(?!#)(\S+)", (REPO / ".ci" / "apt-packages.txt").read_text(), re.M)
    assert set(listed) | {"mosquitto", "python3", "python3-venv"} <= set(apt[1].split())
    assert f"{prefix}env EDGE_HA_PYTHON={tmp_path}/python3.13 bash scripts/ha-venv.sh" in steps
    assert steps[-1] == ".venv/bin/pip install -q -e .[test]"


def test_demo_setup_installs_python_and_the_package(tmp_path: Path) -> None:
    """Without --test: Python 3 and its venv module (a fresh Debian 12 has neither), after
    apt-get update, then .venv with the package; no broker, no HA."""
    res = _run(tmp_path, 0)
    assert res.returncode == 0, res.stderr
    steps = _steps(res.stdout)
    assert steps[0] == "env DEBIAN_FRONTEND=noninteractive apt-get update -qq"
    assert steps[1].endswith("--no-install-recommends python3 python3-venv")
    assert steps[2:] == [
        "python3 -m venv .venv",
        ".venv/bin/pip install -q --upgrade pip",
        ".venv/bin/pip install -q -e .",
    ]


def test_without_python_313_the_rest_is_set_up(tmp_path: Path) -> None:
    """No Python 3.13 for Home Assistant (a fresh Debian 12 has 3.11): one line says that
    test_ha_real will fail and how to fix it; packages and .venv are still set up."""
    res = _run(tmp_path, 0, "--test", ha_python=False)
    assert res.returncode == 0, res.stderr
    assert "no Python 3.13" in res.stderr and "test_ha_real.py" in res.stderr
    steps = _steps(res.stdout)
    assert not any("ha-venv" in step for step in steps)
    assert steps[-1] == ".venv/bin/pip install -q -e .[test]"


def test_a_user_without_sudo_is_told_to_run_as_root(tmp_path: Path) -> None:
    """Neither root nor sudo: exit 1 with one line saying what to do, nothing run."""
    res = _run(tmp_path, 1000, "--test", sudo=False)
    assert res.returncode == 1
    assert "run it as root, or install sudo" in res.stderr
    assert _steps(res.stdout) == []


def test_readme_and_ci_use_the_script() -> None:
    """The README's demo and test commands and .ci/run all start with scripts/dev-setup.sh,
    so the documented set-up is the one CI runs."""
    readme = README.read_text()
    assert "scripts/dev-setup.sh && .venv/bin/edge demo" in readme
    assert "scripts/dev-setup.sh --test && .venv/bin/pytest" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/dev-setup.sh --test\n" in ci
    assert "apt-get install" not in ci.split("# The Pi's CPU")[0]
    assert os.access(SCRIPT, os.X_OK)
