"""The strict base of every configuration section and the validators they share.

Validation does no I/O: whether a file exists or a camera opens is checked by the pre-flight
(``edge config check`` and ``edge run``) or by the stage that opens it.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

_TOPIC_SEGMENT_RE = re.compile(r"^[^#+/\x00]+$")


class Strict(BaseModel):
    """Frozen, and an unknown key is an error (it is almost always a typo). Numbers are
    strict in the sections (``StrictInt``/``StrictFloat``/``StrictBool``): ``true`` is not
    port 1 and ``"0.5"`` is not a number; NaN and infinity are refused everywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def topic_levels(value: str, key: str) -> str:
    """``value`` when it is one or more non-empty MQTT topic levels without wildcards."""
    if not all(_TOPIC_SEGMENT_RE.match(part) for part in value.split("/")):
        raise ValueError(f"{key} must be non-empty topic levels without '+', '#' or empty levels")
    return value
