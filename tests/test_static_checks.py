"""The code-quality gates run as tests, so the README's one test command covers them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.integration
def test_ruff_clean() -> None:
    """`ruff check edge` reports nothing."""
    res = subprocess.run(
        [str(BIN / "ruff"), "check", "edge", "models", "scripts"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.integration
def test_mypy_strict_clean() -> None:
    """`mypy --strict edge` reports no error."""
    res = subprocess.run(
        [str(BIN / "mypy"), "--strict", "edge"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
