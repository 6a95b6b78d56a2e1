"""Every flag of every verb: a bad value is one line naming the flag, the value and the
accepted range, exit status 2 (no traceback, no usage block)."""

from __future__ import annotations

import argparse

import pytest

from edge.cli import build_parser, main


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["demo", "--window-s", "0"], "0 is out of range; accepted: a number from 1 to 86400"),
        (["demo", "--window-s", "-1"], "-1 is out of range; accepted: a number from 1 to 86"),
        (["demo", "--window-s", "1e9"], "--window-s: 1e9 is out of range"),
        (["demo", "--window-s", "nan"], "--window-s: nan is out of range"),
        (["demo", "--window-s", "fast"], "--window-s: 'fast' is not a number from 1 to 86400"),
        (["demo", "--mqtt", "host:0"], "--mqtt: 'host:0': expected HOST or HOST:PORT"),
        (["demo", "--source", "bogus://x"], "--source 'bogus://x': unknown camera.source"),
        (["bench", "--frames", "0"], "--frames: 0 is out of range; accepted: a whole number"),
        (["bench", "--warmup", "-1"], "-1 is out of range; accepted: a whole number >= 0"),
        (["bench", "--threads", "9"], "9 is out of range; accepted: a whole number from 1 to 8"),
        (["bench", "--window-s", "inf"], "--window-s: inf is out of range"),
        (["bench", "--mqtt", "h:99999"], "--mqtt: 'h:99999': expected HOST or HOST:PORT"),
        (["eval", "x.npz", "--temperature", "0"], "0 is out of range; accepted: a number > 0"),
        (["eval", "x.npz", "--temperature", "nan"], "--temperature: nan is out of range"),
        (["eval", "x.npz", "--threads", "0"], "--threads: 0 is out of range"),
        (["--log-level", "LOUD", "demo"], "--log-level: invalid choice: 'LOUD'"),
        (["demo", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)  # fmt: skip
def test_bad_flag_value_is_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The value is refused before anything runs: one stderr line with the flag, the value
    and the accepted range, exit status 2, nothing on stdout."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit, through FlagParser.error
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err
    assert next(arg for arg in argv if arg.startswith("--")) in err  # the flag is named


def _actions(parser: argparse.ArgumentParser, prog: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{prog} {name}")
        else:
            found.append((prog, action))
    return found


def test_no_flag_parses_a_bare_number() -> None:
    """Every numeric flag of every verb goes through the shared range-checked parsers
    (edge.cli.flags), so none of them can accept 0, nan or 1e9 unchecked."""
    bare = [
        f"{prog} {'/'.join(action.option_strings) or action.dest}"
        for prog, action in _actions(build_parser(), "edge")
        if action.type in (int, float)
    ]
    assert bare == []
