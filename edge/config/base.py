"""The strict base of every configuration section and the validators they share.

Validation does no I/O: whether a file exists or a camera opens is checked by the pre-flight
(``edge config check`` and ``edge run``) or by the stage that opens it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_TOPIC_SEGMENT_RE = re.compile(r"^[^#+/\x00]+$")


class Strict(BaseModel):
    """Frozen, and an unknown key is an error (it is almost always a typo). Numbers are
    strict in the sections (``StrictInt``/``StrictFloat``/``StrictBool``): ``true`` is not
    port 1 and ``"0.5"`` is not a number; NaN and infinity are refused everywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, data: Any) -> Any:
        """A section written with nothing under it (``logging:`` above commented-out keys,
        or ``mqtt: null``) is YAML null: it means the section's defaults, at every level."""
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if not (value is None and _is_section(cls, key))
        }


def _is_section(model: type[BaseModel], key: object) -> bool:
    """Whether ``key`` of ``model`` holds a sub-section (a Strict model, not optional)."""
    field = model.model_fields.get(key) if isinstance(key, str) else None
    annotation = field.annotation if field is not None else None
    return isinstance(annotation, type) and issubclass(annotation, Strict)


def topic_levels(value: str, key: str) -> str:
    """``value`` when it is one or more non-empty MQTT topic levels without wildcards."""
    if not all(_TOPIC_SEGMENT_RE.match(part) for part in value.split("/")):
        raise ValueError(f"{key} must be non-empty topic levels without '+', '#' or empty levels")
    return value
