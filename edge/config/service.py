"""``device:``, ``logging:`` and ``state_dir``: the service's identity and housekeeping."""

from __future__ import annotations

import re
import socket
from typing import Literal

from pydantic import Field, field_validator

from edge.config.base import Strict


class DeviceConfig(Strict):
    """Identity of this sensor on the wire."""

    id: str | None = Field(
        default=None,
        description="Device id used in MQTT topics; default: the hostname.",
        min_length=1,
        max_length=64,
    )
    name: str | None = Field(default=None, description="Human-readable name (Home Assistant).")

    @field_validator("id")
    @classmethod
    def _id_is_topic_safe(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
            raise ValueError(
                "device.id may hold only letters, digits, '_' and '-' (it becomes an MQTT topic "
                "level)"
            )
        return value


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def device_id(device: DeviceConfig) -> str:
    """``device.id`` or the hostname, reduced to characters that are safe in a topic level."""
    if device.id:
        return device.id
    host = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", host)[:64] or "edge"
