"""Configuration sections of the publishing side: TLS, outbox, telemetry, Home Assistant.

Part of the one configuration file (see :mod:`edge.config`, which nests these models). Kept in
their own module so that ``edge/config.py`` stays small. Validation does no I/O: whether the
TLS and password files exist is checked when the service starts (:mod:`edge.publish.connect`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_TOPIC_SEGMENT_RE = re.compile(r"^[^#+/\x00]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    """TLS to the broker. Files are checked when the service starts, not here (no I/O)."""

    enabled: bool = Field(default=False, description="Connect with TLS (usually port 8883).")
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the broker; default: system CAs."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")
    insecure: bool = Field(
        default=False,
        description="Skip the broker host-name check (the chain is still verified). Testing only.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("mqtt.tls.cert_file and mqtt.tls.key_file must be set together")
        if not self.enabled and (self.ca_file or self.cert_file or self.insecure):
            raise ValueError("TLS files or insecure are set but mqtt.tls.enabled is false")
        return self


class OutboxConfig(_Strict):
    """Bounds of the on-disk outbox; beyond them the oldest windows are dropped and counted."""

    max_messages: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=50_000, description="Most undelivered windows kept (50 000 = 34 days at 60 s)."
    )
    max_age_s: Annotated[float, Field(ge=60, le=366 * 86400)] = Field(
        default=30 * 86400, description="Undelivered windows older than this are dropped."
    )
    max_bytes: Annotated[int, Field(ge=65_536, le=4 * 1024**3)] = Field(
        default=64 * 1024**2, description="Most payload bytes kept undelivered."
    )


class TelemetryConfig(_Strict):
    """Health numbers on {prefix}/{id}/telemetry."""

    interval_s: Annotated[float, Field(ge=1, le=86400)] = Field(
        default=30.0, description="Seconds between telemetry messages."
    )


class HomeAssistantConfig(_Strict):
    """Home Assistant MQTT device discovery."""

    enabled: bool = Field(default=False, description="Publish discovery (retained) when true.")
    discovery_prefix: str = Field(
        default="homeassistant", description="Home Assistant's discovery_prefix."
    )

    @field_validator("discovery_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not all(_TOPIC_SEGMENT_RE.match(p) for p in value.split("/")):
            raise ValueError(
                "discovery_prefix must be non-empty topic levels without '+', '#' or empty levels"
            )
        return value
