"""The whole configuration file: one section per stage, each in its own module."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.base import Strict
from edge.config.camera import CameraConfig
from edge.config.deployment import DeploymentConfig
from edge.config.inference import ClassifierConfig, DetectorConfig, ModelsConfig
from edge.config.mqtt import HomeAssistantConfig, MqttConfig, TelemetryConfig
from edge.config.privacy import PrivacyConfig
from edge.config.service import DeviceConfig, LoggingConfig
from edge.config.tracking import AggregationConfig, TrackingConfig


class Config(Strict):
    """The whole configuration file."""

    device: DeviceConfig = DeviceConfig()
    camera: CameraConfig = CameraConfig()
    detector: DetectorConfig = DetectorConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    models: ModelsConfig = ModelsConfig()
    tracking: TrackingConfig = TrackingConfig()
    aggregation: AggregationConfig = AggregationConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    mqtt: MqttConfig = MqttConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    logging: LoggingConfig = LoggingConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    state_dir: Path | None = Field(
        default=None,
        description="Where seq and the outbox persist; default $STATE_DIRECTORY, else "
        "/var/lib/edge.",
    )
