"""Hostile or broken configuration files give a message with a line and a fix, never a
traceback, and never echo a URL password."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import Config, ConfigError, load, parse_text
from edge.config.loader import MAX_DEPTH, MAX_FILE_BYTES
from edge.config.source import redact_secrets


def _one_issue(text: str) -> tuple[str, int | None, str, str]:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "edge.yaml")
    [issue] = info.value.issues
    return issue.path, issue.line, issue.message, issue.hint


def test_control_byte_is_reported_at_its_line() -> None:
    """A control character (here U+0001 on line 3) is named with its line and how to remove
    it; YAML's own reader error never surfaces."""
    path, line, message, hint = _one_issue("mqtt:\n  host: broker\n  topic_prefix: a\x01b\n")
    assert (path, line) == ("", 3)
    assert "U+0001" in message and "delete" in hint


@pytest.mark.parametrize(
    "text",
    [
        "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 300)),
        "a: " + "[" * 300 + "]" * 300 + "\n",
        "a: " + "{b: " * 300 + "1" + "}" * 300 + "\n",
        "".join("  " * i + "- \n" for i in range(300)),
    ],
    ids=["indent", "brackets", "braces", "dashes"],
)
def test_deep_nesting_is_refused_with_a_line(text: str) -> None:
    """Nesting hundreds of levels deep (block, flow or list) is refused before parsing with
    the first line that is too deep, instead of a RecursionError."""
    _path, line, message, _hint = _one_issue(text)
    assert line is not None and line <= MAX_DEPTH + 2
    assert "nested more than" in message


def test_alias_expansion_is_bounded() -> None:
    """A 'billion laughs' document (aliases of aliases) stops at the value budget with a
    message, instead of expanding into memory."""
    pairs = zip("abcdefg", "bcdefgh", strict=True)
    text = "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in pairs
    )
    _path, _line, message, hint = _one_issue(text)
    assert "expands to more than" in message and "alias" in hint


def test_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    """A file larger than the limit is refused at once with its size named."""
    big = tmp_path / "edge.yaml"
    big.write_text("# " + "x" * (MAX_FILE_BYTES + 10) + "\n")
    with pytest.raises(ConfigError) as info:
        load(big)
    assert "larger than" in info.value.issues[0].message


def test_bad_encoding_names_the_line_and_the_fix(tmp_path: Path) -> None:
    """A Latin-1 byte on line 2 is reported as not UTF-8, at line 2, with the fix."""
    path = tmp_path / "edge.yaml"
    path.write_bytes(b"mqtt:\n  host: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    [issue] = info.value.issues
    assert issue.line == 2 and "UTF-8" in issue.message and "UTF-8" in issue.hint


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("mqtt:\n  port: true\n", "mqtt.port"),
        ("detector:\n  max_faces: true\n", "detector.max_faces"),
        ("mqtt:\n  qos: true\n", "mqtt.qos"),
        ("camera:\n  fps: '15'\n", "camera.fps"),
        ("camera:\n  loop: 'yes'\n", "camera.loop"),
        ("camera:\n  width: 640.0\n", "camera.width"),
        ("camera:\n  fps: .nan\n", "camera.fps"),
        ("aggregation:\n  window_s: .inf\n", "aggregation.window_s"),
    ],
)
def test_numbers_and_booleans_are_strict(text: str, key: str) -> None:
    """true is not port 1, a quoted number is not a number, 'yes' is not a boolean, and NaN
    or infinity is no value: each is refused at its key and line."""
    path, line, _message, hint = _one_issue(text)
    assert (path, line) == (key, 2)
    assert hint


def test_a_quoted_number_gets_a_quote_hint() -> None:
    """The hint for a quoted number says to drop the quotes."""
    *_, hint = _one_issue("camera:\n  fps: '15'\n")
    assert "without quotes" in hint


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("camera:\n  fps: fast\n", "the value is not a number: write a number such as 15"),
        ("mqtt:\n  port: many\n", "the value is not a number: write a whole number such as 1883"),
        ("camera:\n  width: '640'\n", "write the number without quotes (e.g. 640)"),
    ],
)
def test_a_word_where_a_number_belongs_is_not_called_quoted(text: str, hint: str) -> None:
    """A word (fast) is not a quoted number: its hint says it is no number and gives the
    key's default as an example; a quoted number keeps the "without quotes" hint."""
    *_, got = _one_issue(text)
    assert got == hint


def _section_names() -> list[str]:
    """Every key of the config that holds a section, at every level (mqtt, mqtt.tls, ...)."""
    from pydantic import BaseModel

    def walk(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found += [prefix + name, *walk(kind, f"{prefix}{name}.")]
        return found

    return walk(Config, "")


def _nested(key: str, value: str) -> str:
    *parents, name = key.split(".")
    lines = [f"{'  ' * depth}{parent}:" for depth, parent in enumerate(parents)]
    return "\n".join([*lines, f"{'  ' * len(parents)}{name}:{value}"]) + "\n"


@pytest.mark.parametrize("section", _section_names())
@pytest.mark.parametrize("written", ["", " null", "\n  # level: INFO", " {}"])
def test_an_empty_section_means_its_defaults(section: str, written: str) -> None:
    """A section with nothing under it (only commented-out keys: YAML null), `null` or `{}`
    is that section's defaults, at every level, never an error."""
    config = parse_text(_nested(section, written))
    assert config == Config()


def test_a_value_where_a_section_belongs_names_no_internal_class() -> None:
    """`logging: 5` says a section of sub-keys is expected; no Python class name."""
    path, line, message, hint = _one_issue("logging: 5\n")
    assert (path, line) == ("logging", 1)
    assert message == "expected a section of sub-keys, not a single value (got 5)"
    assert "Config" not in message + hint


def test_integers_still_work_for_float_keys() -> None:
    """Strictness does not refuse a whole number where a number is expected."""
    assert parse_text("camera:\n  fps: 15\n").camera.fps == 15.0


def test_url_password_never_echoed_in_errors() -> None:
    """A validation error about an RTSP/other URL shows it with the credentials masked."""
    with pytest.raises(ConfigError) as info:
        parse_text("camera:\n  source: ftp://admin:hunter2@cam.local/x\n", "edge.yaml")
    text = info.value.render()
    assert "hunter2" not in text and "admin" not in text and "***@cam.local" in text


def test_redaction_keeps_the_rest_of_the_url() -> None:
    """Only the userinfo is masked, also when the password itself holds an '@'."""
    assert redact_secrets("rtsp://u:p@ss@cam:554/s?a=b@c") == "rtsp://***@cam:554/s?a=b@c"
    assert redact_secrets("rtsp://cam/stream") == "rtsp://cam/stream"


def test_credentials_in_mqtt_host_are_refused_and_never_echoed() -> None:
    """`mqtt.host: user:pass@broker` is refused with where the user name and password go;
    the password appears nowhere in the message or hint."""
    path, line, message, hint = _one_issue("mqtt:\n  host: bob:s3cret@broker.lan\n")
    assert (path, line) == ("mqtt.host", 2)
    assert "mqtt.username" in message and "mqtt.password_file" in message
    assert "s3cret" not in message + hint
