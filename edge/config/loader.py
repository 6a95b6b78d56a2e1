"""Reading the YAML file: ruamel nodes to plain data with each key's line, then validation.

:func:`load` reads the file once and returns a frozen :class:`~edge.config.root.Config`;
every stage gets its own part of it. Every problem becomes a
:class:`~edge.config.errors.ConfigIssue` with its line, key path and a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from edge.config.errors import ConfigError, ConfigIssue, hint_for
from edge.config.root import Config

# --------------------------------------------------------------------------- YAML with lines


def _plain(node: Any, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> Any:
    """Convert ruamel's round-trip nodes to plain Python, recording each key's line (1-based)."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            try:
                line, _col = node.lc.key(key)
                lines[(*path, str(key))] = line + 1
            except (KeyError, TypeError):
                pass
            out[str(key) if not isinstance(key, str) else key] = _plain(
                value, (*path, str(key)), lines
            )
        return out
    if isinstance(node, CommentedSeq):
        result = []
        for index, value in enumerate(node):
            try:
                line, _col = node.lc.item(index)
                lines[(*path, index)] = line + 1
            except (KeyError, TypeError, IndexError):
                pass
            result.append(_plain(value, (*path, index), lines))
        return result
    return node


def _line_for(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    probe = loc
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe[:-1]
    return None


def parse_text(text: str, file: str = "<config>") -> Config:
    """Validate YAML ``text``; raise :class:`ConfigError` with every problem found."""
    yaml = YAML(typ="rt", pure=True)
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            file,
            [ConfigIssue("", line, f"not valid YAML: {exc.problem}", "fix the YAML syntax here")],
        ) from None
    lines: dict[tuple[str | int, ...], int] = {}
    data = _plain(raw, (), lines) if raw is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            file,
            [ConfigIssue("", 1, "the file must hold a mapping of keys", "start with e.g. 'mqtt:'")],
        )
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            path = ".".join(str(x) for x in loc)
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}" if loc else "unknown key"
            elif isinstance(err.get("input"), str | int | float | bool):
                message = f"{message} (got {err['input']!r})"
            issues.append(
                ConfigIssue(path, _line_for(loc, lines), message, hint_for(err["type"], message))
            )
        issues.sort(key=lambda i: (i.line is None, i.line or 0, i.path))
        raise ConfigError(file, issues) from None


def load(path: str | Path) -> Config:
    """Read and validate the configuration file at ``path``."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    None,
                    "file not found",
                    "pass the path of your edge.yaml (example: firmware_config/edge.yaml)",
                )
            ],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            file, [ConfigIssue("", None, f"cannot read file: {exc}", "check its permissions")]
        ) from None
    return parse_text(text, file)
