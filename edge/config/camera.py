"""``camera:``: where frames come from (the source grammar is :mod:`edge.config.source`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictFloat, StrictInt, field_validator, model_validator

from edge.config.base import Strict
from edge.config.source import parse_source


class CameraConfig(Strict):
    """Where frames come from."""

    source: str = Field(
        default="picamera2",
        description="picamera2 | v4l2:/dev/videoN | a device index | rtsp://... | file:PATH",
    )
    loop: StrictBool = Field(default=False, description="file: sources replay forever when true.")
    width: Annotated[StrictInt, Field(ge=64, le=4096)] = 640
    height: Annotated[StrictInt, Field(ge=64, le=4096)] = 480
    fps: Annotated[StrictFloat, Field(gt=0, le=120)] = 15.0
    reopen_initial_s: Annotated[StrictFloat, Field(gt=0, le=60)] = 1.0
    reopen_max_s: Annotated[StrictFloat, Field(gt=0, le=3600)] = 30.0
    read_timeout_s: Annotated[StrictFloat, Field(gt=0, le=60)] = 5.0

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        parse_source(value)  # raises ValueError with a hint; pure string parsing, no I/O
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> CameraConfig:
        if self.reopen_max_s < self.reopen_initial_s:
            raise ValueError("camera.reopen_max_s must be >= camera.reopen_initial_s")
        return self
