"""Reading the YAML file: ruamel nodes to plain data with each key's line, then validation.

:func:`load` reads the file once and returns a frozen :class:`~edge.config.root.Config`;
every stage gets its own part of it. Every problem becomes a
:class:`~edge.config.errors.ConfigIssue` with its line, key path and a hint, never a traceback:
the file is bounded in size, in nesting depth and in the values its aliases expand to, and a
control character or a byte that is not UTF-8 is reported with its line. URL passwords are
masked in every message.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from edge.config.errors import ConfigError, ConfigIssue, hint_for
from edge.config.root import Config
from edge.config.source import redact_secrets

#: Largest configuration file read (the documented example with every key is ~9 KB).
MAX_FILE_BYTES = 256 * 1024
#: Deepest nesting accepted (the schema itself is at most 5 levels deep).
MAX_DEPTH = 24
#: Most values the document may expand to (aliases included).
MAX_VALUES = 20_000

Lines = dict[tuple[str | int, ...], int]
M = TypeVar("M", bound=BaseModel)
#: The documented example that hints point to.
_REFERENCE = "firmware_config/edge.yaml"

#: Characters YAML does not allow in a document (C0 controls but tab/LF/CR, DEL, C1 but NEL).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration with the line of every key, for later checks (the
    pre-flight) that report problems at a line too."""

    config: Config
    file: str
    lines: Lines

    def line_for(self, *loc: str | int) -> int | None:
        return line_for(loc, self.lines)


class _Budget:
    """Counts values while converting, so a document that expands (aliases) stops early."""

    def __init__(self) -> None:
        self.values = 0


class _TooLargeError(Exception):
    def __init__(self, line: int | None, message: str, hint: str) -> None:
        super().__init__(message)
        self.issue = ConfigIssue("", line, message, hint)


def _line_of(node: Any, key: Any = None, index: int | None = None) -> int | None:
    try:
        if key is not None:
            return int(node.lc.key(key)[0]) + 1
        if index is not None:
            return int(node.lc.item(index)[0]) + 1
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    return None


def _plain(node: Any, path: tuple[str | int, ...], lines: Lines, budget: _Budget) -> Any:
    """Convert ruamel's round-trip nodes to plain Python, recording each key's line (1-based)."""
    budget.values += 1
    if budget.values > MAX_VALUES or len(path) > MAX_DEPTH:
        line = line_for(path, lines)
        if len(path) > MAX_DEPTH:
            raise _TooLargeError(
                line,
                f"nested more than {MAX_DEPTH} levels deep",
                "the configuration is at most 5 levels deep; check the indentation",
            )
        raise _TooLargeError(
            line,
            f"the file expands to more than {MAX_VALUES} values",
            "remove repeated YAML aliases (*name) or long lists",
        )
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            name = key if isinstance(key, str) else str(key)
            line = _line_of(node, key=key)
            if line is not None:
                lines[(*path, name)] = line
            out[name] = _plain(value, (*path, name), lines, budget)
        return out
    if isinstance(node, CommentedSeq):
        result = []
        for index, value in enumerate(node):
            line = _line_of(node, index=index)
            if line is not None:
                lines[(*path, index)] = line
            result.append(_plain(value, (*path, index), lines, budget))
        return result
    return node


def _deep_line(text: str) -> int | None:
    """The first line whose nesting (indentation levels, '- ' items, open brackets) is deeper
    than ``MAX_DEPTH``: found before parsing, so a deep document never reaches the recursive
    YAML composer."""
    indents: list[int] = []
    flow = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(stripped)
        if flow == 0:
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
        dashes, rest = 0, stripped  # '- - x' nests two sequences on one line
        while rest == "-" or rest.startswith(("- ", "-\t")):
            dashes, rest = dashes + 1, rest[1:].lstrip()
        deepest = flow
        for char in stripped:
            if char in "[{":
                flow += 1
                deepest = max(deepest, flow)
            elif char in "]}":
                flow = max(0, flow - 1)
        if len(indents) + dashes + deepest > MAX_DEPTH:
            return number
    return None


def _text_issue(text: str) -> ConfigIssue | None:
    """A control character or runaway nesting, with its line; None when the text is fine."""
    bad = _CONTROL_RE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        code = ord(bad.group(0))
        return ConfigIssue(
            "",
            line,
            f"control character U+{code:04X} in the file (column "
            f"{bad.start() - text.rfind(chr(10), 0, bad.start())})",
            "delete it (it is invisible in most editors; `cat -A` shows it) or retype the line",
        )
    deep = _deep_line(text)
    if deep is not None:
        return ConfigIssue(
            "",
            deep,
            f"nested more than {MAX_DEPTH} levels deep",
            "the configuration is at most 5 levels deep; check the indentation and brackets",
        )
    return None


def line_for(loc: tuple[str | int, ...], lines: Lines) -> int | None:
    probe = loc
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe[:-1]
    return None


def parse_text(text: str, file: str = "<config>") -> Config:
    """Validate YAML ``text``; raise :class:`ConfigError` with every problem found."""
    return parse_document(text, file).config


def parse_document(text: str, file: str = "<config>") -> LoadedConfig:
    """:func:`parse_text`, keeping the line of every key."""
    data, lines = parse_yaml(text, file)
    return LoadedConfig(validate_model(Config, data, lines, file), file, lines)


def parse_yaml(text: str, file: str = "<config>") -> tuple[dict[str, Any], Lines]:
    """The YAML document as plain data with the line of every key; raises
    :class:`ConfigError` for a file that is too large, not text, not YAML or not a mapping."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    None,
                    f"the file is {len(text)} characters long; at most {MAX_FILE_BYTES} are read",
                    "is this the right file? firmware_config/edge.yaml has every key in ~9 KB",
                )
            ],
        )
    problem = _text_issue(text)
    if problem is not None:
        raise ConfigError(file, [problem])
    yaml = YAML(typ="rt", pure=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a reused anchor: legal YAML, no output
            raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            file,
            [ConfigIssue("", line, f"not valid YAML: {exc.problem}", "fix the YAML syntax here")],
        ) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        raise ConfigError(
            file, [ConfigIssue("", None, f"not valid YAML: {exc}", "fix the YAML syntax")]
        ) from None
    lines: Lines = {}
    try:
        data = _plain(raw, (), lines, _Budget()) if raw is not None else {}
    except _TooLargeError as exc:
        raise ConfigError(file, [exc.issue]) from None
    if not isinstance(data, dict):
        raise ConfigError(
            file,
            [ConfigIssue("", 1, "the file must hold a mapping of keys", "start with e.g. 'mqtt:'")],
        )
    return data, lines


def validate_model(
    model: type[M], data: dict[str, Any], lines: Lines, file: str, reference: str = _REFERENCE
) -> M:
    """``data`` validated as ``model``; every problem becomes a :class:`ConfigIssue` with its
    YAML line, key path and hint (``reference`` names the documented example file)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            path = ".".join(str(x) for x in loc)
            message = redact_secrets(str(err["msg"]).removeprefix("Value error, "))
            if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
                message = "expected a section of sub-keys, not a single value"  # no class name
                shown = err.get("input")
                if isinstance(shown, str | int | float | bool):
                    shown = redact_secrets(shown)[:200] if isinstance(shown, str) else shown
                    message = f"{message} (got {shown!r})"
            elif err["type"] == "extra_forbidden":
                message = f"unknown key {redact_secrets(str(loc[-1]))!r}" if loc else "unknown key"
            elif isinstance(err.get("input"), str | int | float | bool):
                shown = err["input"]
                shown = redact_secrets(shown)[:200] if isinstance(shown, str) else shown
                message = f"{message} (got {shown!r})"
            hint = _hint(err["type"], err, message).replace(_REFERENCE, reference)
            issues.append(ConfigIssue(path, line_for(loc, lines), message, hint))
        issues.sort(key=lambda i: (i.line is None, i.line or 0, i.path))
        raise ConfigError(file, issues) from None


def _hint(error_type: str, err: Any, message: str) -> str:
    """The hint for one validation error; a quoted number or a true/false where a number
    belongs gets its own advice."""
    given = err.get("input")
    if error_type in ("int_type", "float_type"):
        if isinstance(given, bool):
            return "write a number here, not true/false"
        if isinstance(given, str):
            return _text_number_hint(given, err, whole=error_type == "int_type")
    if error_type == "bool_type" and isinstance(given, str):
        return "write true or false, without quotes"
    return hint_for(error_type, message)


def _text_number_hint(given: str, err: Any, whole: bool) -> str:
    """A quoted number (``"15"``) gets "without quotes"; a word (``fast``) is no number at
    all, and gets an example: the key's default where it has a number, else 1."""
    try:
        float(given.strip())
    except ValueError:
        example = _default_at(tuple(err["loc"]))
        if not isinstance(example, int | float) or isinstance(example, bool):
            example = 1
        kind = "a whole number" if whole else "a number"
        return f"the value is not a number: write {kind} such as {example:g}"
    return f"write the number without quotes (e.g. {given.strip()})"


def _default_at(loc: tuple[Any, ...]) -> Any:
    """The default value of the key at ``loc`` (None where there is none)."""
    value: Any = Config()
    for part in loc:
        value = getattr(value, part, None) if isinstance(part, str) else None
    return value


def load(path: str | Path) -> Config:
    """Read and validate the configuration file at ``path``."""
    return load_document(path).config


def load_document(path: str | Path) -> LoadedConfig:
    """:func:`load`, keeping the line of every key (for the pre-flight)."""
    return parse_document(read_text(path), str(path))


def read_text(path: str | Path, what: str = "edge.yaml") -> str:
    """The text of a configuration file, bounded in size; a :class:`ConfigError` naming the
    file when it is missing, unreadable, too large or not UTF-8."""
    file = str(path)
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    None,
                    "file not found",
                    f"pass the path of your {what} (example: firmware_config/edge.yaml)"
                    if what == "edge.yaml"
                    else f"pass the path of your {what}",
                )
            ],
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            file, [ConfigIssue("", None, "is a directory", f"pass the path of the {what} file")]
        ) from None
    except OSError as exc:
        raise ConfigError(
            file,
            [ConfigIssue("", None, f"cannot read file: {exc.strerror}", "check its permissions")],
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    None,
                    f"the file is larger than {MAX_FILE_BYTES // 1024} KiB",
                    "is this the right file? firmware_config/edge.yaml has every key in ~9 KB",
                )
            ],
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    line,
                    f"byte 0x{data[exc.start]:02x} is not UTF-8 text",
                    "save the file as UTF-8 (most editors: File > Save with encoding)",
                )
            ],
        ) from None
    return text.removeprefix("\ufeff")
