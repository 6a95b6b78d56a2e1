"""Where tests keep what a person should look at (screenshots, the printed sign):
``$EDGE_TEST_ARTIFACTS`` or ``tests/artifacts/`` (git-ignored). Each test prints the path."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def artifact_path(name: str) -> Path:
    """``<artifacts>/<name>``, creating the folder; the caller writes the file and prints it."""
    folder = Path(os.environ.get("EDGE_TEST_ARTIFACTS") or REPO_ROOT / "tests" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
