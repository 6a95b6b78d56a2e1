"""The soak script's arithmetic: the RSS slope over the second half, and seq gaps and
duplicates, on made-up samples (no process is started)."""

from __future__ import annotations

import pytest

from tests.scriptmodule import soak_module

soak = soak_module()


def _samples(rss_kb: list[int], every_s: float = 30.0) -> list[object]:
    return [
        soak.Sample(t_s=(i + 1) * every_s, rss_kb=r, uss_kb=r - 1000, pss_kb=r - 500,
                    fds=11, threads=10 + i % 2, cpu_s=float(i), windows=3 * i)
        for i, r in enumerate(rss_kb)
    ]


def test_slope_is_per_hour_and_zero_when_flat() -> None:
    """A line rising 10 KB per 30 s is 1,200 KB per hour; a flat series and a single point
    have slope 0."""
    ts = [30.0 * i for i in range(10)]
    assert soak.slope_per_hour(ts, [1000 + 10 * i for i in range(10)]) == pytest.approx(1200)
    assert soak.slope_per_hour(ts, [5.0] * 10) == 0
    assert soak.slope_per_hour([1.0], [2.0]) == 0


def test_summary_ignores_warm_up_growth() -> None:
    """Start-up growth in the first half does not count: a run that grows 20 MB in its first
    minutes and is flat afterwards has a second-half slope of 0, while min/max still show it."""
    rss = [100_000 + 4_000 * i for i in range(5)] + [120_000] * 15
    summary = soak.summarize(_samples(rss), seqs=list(range(1, 61)))
    assert summary.rss_slope_kb_per_h == 0
    assert summary.uss_slope_kb_per_h == 0
    assert (summary.rss_min_kb, summary.rss_max_kb) == (100_000, 120_000)
    assert (summary.threads_min, summary.threads_max, summary.fds_max) == (10, 11, 11)
    assert summary.minutes == 10.0 and summary.samples == 20 and summary.windows == 60


def test_summary_reports_steady_growth() -> None:
    """Growth that continues through the second half shows as its rate per hour."""
    rss = [100_000 + 15 * i for i in range(40)]  # 15 KB per 30 s sample
    summary = soak.summarize(_samples(rss), seqs=[1, 2, 3])
    assert summary.rss_slope_kb_per_h == pytest.approx(1800)


def test_seq_gaps_and_duplicates_are_counted() -> None:
    """A missing seq is a gap, a repeated one a duplicate; an empty run has neither."""
    assert soak.seq_problems([1, 2, 3, 4]) == (0, 0)
    assert soak.seq_problems([1, 2, 4, 4, 5, 7]) == (2, 1)
    assert soak.seq_problems([]) == (0, 0)


def test_no_sample_is_an_error() -> None:
    """A service that died before its first sample gives no summary but a clear error."""
    with pytest.raises(ValueError, match="no samples"):
        soak.summarize([], [])


def test_run_length_and_period_must_be_positive() -> None:
    """--minutes, --interval-s and --window-s refuse zero, negative and nan (exit 2)."""
    for flag in ("--minutes", "--interval-s", "--window-s"):
        for bad in ("0", "-1", "nan"):
            with pytest.raises(SystemExit) as exc:
                soak.parse_args([flag, bad])
            assert exc.value.code == 2


def test_table_has_a_row_every_five_minutes_and_the_last() -> None:
    """The docs table takes the first sample at or after each 5-minute mark, plus the last
    sample, with RSS in KiB."""
    samples = _samples([102_400 + i for i in range(25)])  # every 30 s: 0.5 .. 12.5 min
    lines = soak.table(samples).splitlines()
    minutes = [line.split("|")[1].strip() for line in lines[2:]]
    assert minutes == ["0.5", "5.0", "10.0", "12.5"]
    assert lines[2].split("|")[2].strip() == "102,400"
