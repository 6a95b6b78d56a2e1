"""Flag values, checked the same way by every verb: a bad value is one line that names the
flag, the value and what is accepted, with exit status 2 (never a traceback).

Numbers are checked while argparse parses them (:func:`number`, :func:`config_number`: the
range of a flag that sets a config key is read from that key's own bounds, so the two cannot
drift); values that only the configuration can judge (a camera source) go through
:func:`config_with_flags`, which names the flag, not the config key.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from edge.cli.common import EXIT_USAGE, UsageError, parse_broker
from edge.config import Config
from edge.config.source import redact_secrets


class FlagParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (no usage block) and exit 2; sub-parsers
    made with ``add_subparsers`` are of this class too."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {redact_secrets(message)} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def accepted(kind: type, ge: float | None, gt: float | None, le: float | None) -> str:
    """``a whole number from 1 to 8``, ``a number > 0``: the accepted range in words."""
    what = "a whole number" if kind is int else "a number"
    if ge is not None and le is not None:
        return f"{what} from {ge:g} to {le:g}"
    low = f" >= {ge:g}" if ge is not None else f" > {gt:g}" if gt is not None else ""
    high = f" <= {le:g}" if le is not None else ""
    return what + (low + (" and" if low and high else "") + high)


def number(
    kind: type = float,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses a finite ``kind`` (int or float) in the range."""
    allowed = accepted(kind, ge, gt, le)

    def parse(text: str) -> int | float:
        try:
            value: int | float = int(text) if kind is int else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if (
            not math.isfinite(value)
            or (ge is not None and value < ge)
            or (gt is not None and value <= gt)
            or (le is not None and value > le)
        ):
            raise argparse.ArgumentTypeError(f"{text} is out of range; accepted: {allowed}")
        return value

    parse.__name__ = "int" if kind is int else "number"  # argparse's name in its messages
    return parse


def config_number(key: str) -> Callable[[str], Any]:
    """:func:`number` with the bounds of the config key ``key`` (e.g. ``aggregation.window_s``)."""
    model: type[BaseModel] = Config
    *sections, name = key.split(".")
    for section in sections:
        model = model.model_fields[section].annotation  # type: ignore[assignment]
    field = model.model_fields[name]
    bounds = {
        attr: getattr(meta, attr)
        for meta in field.metadata
        for attr in ("ge", "gt", "le")
        if hasattr(meta, attr)
    }
    return number(int if field.annotation is int else float, **bounds)


def broker(text: str) -> tuple[str, int]:
    """An argparse ``type=`` for ``HOST[:PORT]`` (port 1883 when none is given)."""
    try:
        return parse_broker(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--mqtt ")) from None


def config_with_flags(base: Config, flags: Mapping[str, tuple[str, object]]) -> Config:
    """``base`` with each config key of ``flags`` (``key: (flag, value)``) set to the flag's
    value; a value the configuration refuses raises :class:`UsageError` naming the flag."""
    doc = base.model_dump()
    for key, (_flag, value) in flags.items():
        *sections, name = key.split(".")
        target = doc
        for section in sections:
            target = target[section]
        target[name] = value
    try:
        return Config.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"])
            flag, value = flags.get(key, (key, err.get("input")))
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{flag} {value!r}: {message}")
        raise UsageError("; ".join(problems)) from None
