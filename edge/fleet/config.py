"""The collector's settings: a YAML file (same loader and error style as ``edge config
check``) and/or flags. Validation does no I/O; files are read when the collector starts.

Example (docs/fleet.md has every key)::

    mqtt:
      host: broker.example.org
      port: 8883
      client_id: fleet-a
      group: edge-fleet
      username: fleet
      tls: {enabled: true, ca_file: /etc/edge-fleet/ca.pem}
    database:
      dsn: "host=db.example.org dbname=edge user=fleet"
      retention_days: 400
    sites:
      lobby: [lobby-pi-1, lobby-pi-2]
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StrictInt, field_validator

from edge.config.base import Strict, topic_levels
from edge.config.mqtt import MqttConfig

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: systemd ``LoadCredential=`` name of the database password.
DB_CREDENTIAL_NAME = "db_password"


def default_client_id() -> str:
    """``fleet-<host name>``: stable across restarts of the same server."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"
    return f"fleet-{host}"


class FleetMqttConfig(MqttConfig):
    """The broker (the device's ``mqtt:`` keys: host, port, TLS, username, password_file)
    plus the shared-subscription group and the persistent session. MQTT 5 always."""

    protocol: Any = Field(default="5", description="Always MQTT 5 (shared subscriptions).")
    group: str = Field(
        default="edge-fleet",
        description="Shared-subscription group name; empty: plain subscriptions (one "
        "collector; on Mosquitto they keep receiving for an offline session across a broker "
        "restart, shared ones do not, see docs/fleet.md).",
    )
    session_expiry_s: Annotated[StrictInt, Field(ge=60, le=30 * 86400)] = Field(
        default=86400,
        description="How long the broker keeps this collector's session (and its unacked "
        "messages) while it is away.",
    )
    receive_maximum: Annotated[StrictInt, Field(ge=1, le=65535)] = Field(
        default=1000, description="Unacknowledged messages the broker may send at once."
    )

    @field_validator("protocol", mode="before")
    @classmethod
    def _only_five(cls, value: Any) -> str:
        if str(value) != "5":
            raise ValueError("the collector always uses MQTT 5 (shared subscriptions)")
        return "5"

    @field_validator("group")
    @classmethod
    def _group_shape(cls, value: str) -> str:
        if value and not _NAME_RE.match(value):
            raise ValueError("group must be empty or 1-64 letters, digits, '_' or '-'")
        return value


class DatabaseConfig(Strict):
    dsn: str = Field(
        default="", description="libpq connection string or URI (no password in it)."
    )
    password_file: Path | None = Field(
        default=None,
        description="File holding the database password; default "
        f"$CREDENTIALS_DIRECTORY/{DB_CREDENTIAL_NAME} when present, else libpq's own "
        "(~/.pgpass, PGPASSWORD).",
    )
    retention_days: Annotated[StrictInt, Field(ge=0, le=36500)] = Field(
        default=400, description="Windows older than this are dropped by partition; 0 = keep."
    )
    timeout_s: Annotated[StrictInt, Field(ge=1, le=600)] = Field(
        default=10, description="Connect and statement timeout."
    )


class BatchConfig(Strict):
    max_messages: Annotated[StrictInt, Field(ge=1, le=10000)] = Field(
        default=500, description="Most messages stored per transaction."
    )
    max_wait_ms: Annotated[StrictInt, Field(ge=1, le=10000)] = Field(
        default=100, description="Longest wait for a batch to fill."
    )


class FleetConfig(Strict):
    mqtt: FleetMqttConfig = FleetMqttConfig()
    database: DatabaseConfig = DatabaseConfig()
    batch: BatchConfig = BatchConfig()
    sites: dict[str, list[str]] = Field(
        default_factory=dict, description="site name -> device ids (the registry's sites)."
    )

    @field_validator("sites")
    @classmethod
    def _site_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for site, devices in value.items():
            if not _NAME_RE.match(site):
                raise ValueError(f"site name {site!r}: use 1-64 letters, digits, '_' or '-'")
            for device in devices:
                if not _NAME_RE.match(device):
                    raise ValueError(f"device id {device!r} in site {site!r} is not a device id")
        return value

    @field_validator("mqtt")
    @classmethod
    def _prefix(cls, value: FleetMqttConfig) -> FleetMqttConfig:
        topic_levels(value.topic_prefix, "topic_prefix")
        return value


def load_fleet_config(path: str | Path | None, overrides: dict[str, Any]) -> FleetConfig:
    """The file (if any) with ``overrides`` (``{"mqtt": {"host": ...}}`` from flags) on
    top; a :class:`edge.config.ConfigError` with lines and hints when it is not valid."""
    from edge.config.loader import parse_yaml, read_text, validate_model

    data: dict[str, Any] = {}
    lines: dict[tuple[str | int, ...], int] = {}
    file = "<flags>"
    if path is not None:
        file = str(path)
        data, lines = parse_yaml(read_text(path, "fleet.yaml"), file)
    for section, values in overrides.items():
        merged = dict(data.get(section) or {}) if isinstance(data.get(section), dict) else {}
        merged.update(values)
        data[section] = merged
    return validate_model(FleetConfig, data, lines, file, reference="docs/fleet.md")
