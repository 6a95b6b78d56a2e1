"""``mqtt:`` (broker, TLS, login, outbox), ``telemetry:`` and ``homeassistant:``.

Validation does no I/O: whether the TLS and password files exist is checked by the pre-flight
and when the service starts (:mod:`edge.publish.connect`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, field_validator, model_validator

from edge.config.base import Strict, topic_levels

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")


class TlsConfig(Strict):
    """TLS to the broker. Files are checked when the service starts, not here (no I/O)."""

    enabled: StrictBool = Field(default=False, description="Connect with TLS (usually port 8883).")
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the broker; default: system CAs."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")
    insecure: StrictBool = Field(
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


class OutboxConfig(Strict):
    """Bounds of the on-disk outbox; beyond them the oldest windows are dropped and counted."""

    max_messages: Annotated[StrictInt, Field(ge=1, le=10_000_000)] = Field(
        default=50_000, description="Most undelivered windows kept (50 000 = 34 days at 60 s)."
    )
    max_age_s: Annotated[StrictFloat, Field(ge=60, le=366 * 86400)] = Field(
        default=30 * 86400, description="Undelivered windows older than this are dropped."
    )
    max_bytes: Annotated[StrictInt, Field(ge=65_536, le=4 * 1024**3)] = Field(
        default=64 * 1024**2, description="Most payload bytes kept undelivered."
    )


class TelemetryConfig(Strict):
    """Health numbers on {prefix}/{id}/telemetry."""

    interval_s: Annotated[StrictFloat, Field(ge=1, le=86400)] = Field(
        default=30.0, description="Seconds between telemetry messages."
    )


class HomeAssistantConfig(Strict):
    """Home Assistant MQTT device discovery."""

    enabled: StrictBool = Field(
        default=False, description="Publish discovery (retained) when true."
    )
    discovery_prefix: str = Field(
        default="homeassistant", description="Home Assistant's discovery_prefix."
    )

    @field_validator("discovery_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        return topic_levels(value, "discovery_prefix")


class MqttConfig(Strict):
    """MQTT broker connection and topics."""

    host: str = "localhost"
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 1883
    topic_prefix: str = "edge"
    keepalive_s: Annotated[StrictInt, Field(ge=5, le=3600)] = 60
    client_id: str | None = Field(default=None, max_length=128)
    qos: Literal[0, 1, 2] = 1
    connect_timeout_s: Annotated[StrictFloat, Field(gt=0, le=120)] = 10.0
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT version.")
    username: str | None = Field(default=None, min_length=1, max_length=256)
    password_file: Path | None = Field(
        default=None,
        description="File holding the password; default $CREDENTIALS_DIRECTORY/mqtt_password. "
        "An empty file means no password.",
    )
    reconnect_initial_s: Annotated[StrictFloat, Field(gt=0, le=60)] = Field(
        default=1.0, description="First reconnect delay; doubles (with jitter) per failure."
    )
    reconnect_max_s: Annotated[StrictFloat, Field(gt=0, le=3600)] = Field(
        default=30.0, description="Longest reconnect delay."
    )
    tls: TlsConfig = TlsConfig()
    outbox: OutboxConfig = OutboxConfig()

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_number(cls, value: Any) -> Any:
        return "5" if type(value) is int and value == 5 else value  # YAML `protocol: 5`

    @field_validator("qos", mode="before")
    @classmethod
    def _qos_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("qos must be the number 0, 1 or 2, not true/false")
        return value

    @model_validator(mode="after")
    def _reconnect_order(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("mqtt.reconnect_max_s must be >= mqtt.reconnect_initial_s")
        return self

    @field_validator("host")
    @classmethod
    def _host_shape(cls, value: str) -> str:
        if "@" in value:  # user:password@host: never repeat the value, it holds a password
            raise ValueError(
                "mqtt.host holds a user name (and perhaps a password) before '@'; write only "
                "the host here, the user name in mqtt.username and the password in the file "
                "mqtt.password_file"
            )
        if not _HOST_RE.match(value):
            raise ValueError(
                f"{value!r} is not a host name or IP address (no scheme or port: use mqtt.port)"
            )
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        return topic_levels(value, "topic_prefix")
