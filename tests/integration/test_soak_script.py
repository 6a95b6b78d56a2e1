"""scripts/soak.py end to end, briefly: a real Mosquitto, the real `edge run` on the looped
sample clip, sampled a few times."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def test_short_soak_samples_counts_windows_and_stops_by_itself(tmp_path: Path) -> None:
    """A 12 s soak with 1 s windows stops by itself, exits 0, writes one CSV row per 3 s
    sample (RSS, fds and threads of the live service) and a summary with windows counted and
    no seq gap or duplicate."""
    out = tmp_path / "soak"
    res = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "soak.py"), "--minutes", "0.2",
         "--interval-s", "3", "--window-s", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr + (out / "edge.log").read_text()
    with (out / "samples.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4, rows  # at 3, 6, 9 and 12 s
    assert all(int(r["rss_kb"]) > 10_000 and int(r["fds"]) > 0 and int(r["threads"]) > 1
               for r in rows), rows
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] >= 2, summary
    assert summary["seq_gaps"] == 0 and summary["seq_duplicates"] == 0, summary
    assert summary["service_exit"] == 0 and not summary["died_early"], summary
    assert summary["rss_min_kb"] <= summary["rss_max_kb"]
    assert "rss_slope_kb_per_h" in res.stdout
