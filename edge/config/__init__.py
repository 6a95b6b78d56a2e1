"""The one YAML configuration file: strict pydantic sections, loading, errors with YAML lines.

One module per section (camera, inference, tracking, privacy, mqtt, service, deployment);
validation does no I/O. Stages check what they open (files, models, sources) when they open it.
"""

from __future__ import annotations

from edge.config.camera import CameraConfig
from edge.config.deployment import DeploymentConfig, deployment_verdict
from edge.config.errors import ConfigError, ConfigIssue
from edge.config.inference import ClassifierConfig, DetectorConfig, ModelsConfig
from edge.config.loader import load, parse_text
from edge.config.mqtt import (
    HomeAssistantConfig,
    MqttConfig,
    OutboxConfig,
    TelemetryConfig,
    TlsConfig,
)
from edge.config.privacy import DpConfig, PrivacyConfig, Region
from edge.config.root import Config
from edge.config.service import DeviceConfig, LoggingConfig, device_id
from edge.config.tracking import AggregationConfig, TrackingConfig

__all__ = [
    "AggregationConfig",
    "CameraConfig",
    "ClassifierConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DeploymentConfig",
    "DetectorConfig",
    "DeviceConfig",
    "DpConfig",
    "HomeAssistantConfig",
    "LoggingConfig",
    "ModelsConfig",
    "MqttConfig",
    "OutboxConfig",
    "PrivacyConfig",
    "Region",
    "TelemetryConfig",
    "TlsConfig",
    "TrackingConfig",
    "deployment_verdict",
    "device_id",
    "load",
    "parse_text",
]
