"""Configuration errors that say where (file, YAML line, key path), what, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from edge.config.source import redact_secrets


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the file: where it is, what is wrong, and how to fix it."""

    path: str
    line: int | None
    message: str
    hint: str

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line is not None else file
        return f"{where}: {self.path or '<root>'}: {self.message}\n    hint: {self.hint}"


class ConfigError(Exception):
    """The configuration cannot be used; ``issues`` lists every problem found."""

    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__(self.render())

    def render(self) -> str:
        """Every issue, one per line with its hint; URL credentials are masked."""
        head = f"{self.file}: {len(self.issues)} configuration error(s)"
        return redact_secrets("\n".join([head, *(i.render(self.file) for i in self.issues)]))

    def __str__(self) -> str:
        return self.render()


_HINTS: dict[str, str] = {
    "extra_forbidden": "remove this key or fix its spelling; see firmware_config/edge.yaml for "
    "every valid key",
    "missing": "add this key",
    "int_parsing": "write a whole number, e.g. 1883",
    "int_type": "write a whole number",
    "float_parsing": "write a number, e.g. 0.5",
    "float_type": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it if it looks like a number)",
    "literal_error": "use one of the listed values",
    "greater_than_equal": "raise the value to the minimum",
    "greater_than": "raise the value above the minimum",
    "less_than_equal": "lower the value to the maximum",
    "less_than": "lower the value below the maximum",
    "model_type": "this key holds a mapping of sub-keys (key: value lines indented below it)",
    "model_attributes_type": "this key holds a mapping of sub-keys",
    "dict_type": "this key holds a mapping of sub-keys",
    "string_too_short": "write a non-empty value",
    "string_too_long": "shorten the value",
    "too_short": "add items (a polygon needs at least 3 [x, y] points)",
    "too_long": "remove items",
    "finite_number": "write a finite number (not .nan or .inf)",
}


def hint_for(error_type: str, message: str) -> str:
    if error_type == "value_error":
        return "change the value as the message says"
    return _HINTS.get(error_type, "see firmware_config/edge.yaml for the documented key")
