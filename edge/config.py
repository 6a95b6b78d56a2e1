"""The one YAML configuration file: pydantic models, loading, and errors that point at lines.

Validation does no I/O: whether a model file exists or a camera opens is checked by the stage
that opens it. :func:`load` reads the file once and returns a frozen :class:`Config`; every
stage gets its own part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from edge.config_privacy import DpConfig, Region
from edge.config_publish import HomeAssistantConfig, OutboxConfig, TelemetryConfig, TlsConfig

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_TOPIC_SEGMENT_RE = re.compile(r"^[^#+/\x00]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Strict):
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


class CameraConfig(_Strict):
    """Where frames come from."""

    source: str = Field(
        default="picamera2",
        description="picamera2 | v4l2:/dev/videoN | a device index | rtsp://... | file:PATH",
    )
    loop: bool = Field(default=False, description="file: sources replay forever when true.")
    width: Annotated[int, Field(ge=64, le=4096)] = 640
    height: Annotated[int, Field(ge=64, le=4096)] = 480
    fps: Annotated[float, Field(gt=0, le=120)] = 15.0
    reopen_initial_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    reopen_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    read_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        from edge.camera.uri import parse_source

        parse_source(value)  # raises ValueError with a hint; pure string parsing, no I/O
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> CameraConfig:
        if self.reopen_max_s < self.reopen_initial_s:
            raise ValueError("camera.reopen_max_s must be >= camera.reopen_initial_s")
        return self


class DetectorConfig(_Strict):
    """Face detector (BlazeFace) settings."""

    model: str = Field(default="blazeface_full_range", description="Model id in the manifest.")
    score_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    nms_iou: Annotated[float, Field(gt=0, lt=1)] = 0.3
    tiles: Annotated[int, Field(ge=1, le=4)] = Field(
        default=1,
        description="Split the frame into tiles x tiles overlapping tiles (plus the whole frame) "
        "to find small faces; 1 = whole frame only.",
    )
    tile_overlap: Annotated[float, Field(ge=0, le=0.5)] = 0.25
    max_faces: Annotated[int, Field(ge=1, le=100)] = 20
    threads: Annotated[int, Field(ge=1, le=8)] = 2


class ClassifierConfig(_Strict):
    """Expression classifier settings."""

    model: str = Field(default="edge_fer_cnn_int8", description="Model id in the manifest.")
    threads: Annotated[int, Field(ge=1, le=8)] = 1
    margin: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.1, description="Extra crop around the aligned face, as a fraction of its size."
    )
    flip_tta: bool = Field(
        default=True,
        description="Also classify each face mirrored left-right and average the two outputs "
        "(test-time augmentation): two invokes per face for about one point of accuracy.",
    )


class ModelsConfig(_Strict):
    """Where model files and their manifest live."""

    dir: Path | None = Field(
        default=None, description="Folder with manifest.toml; default: the bundled models."
    )


class TrackingConfig(_Strict):
    """Ephemeral in-memory tracks (never leave the process)."""

    iou_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.3
    max_distance: Annotated[float, Field(gt=0, le=5)] = Field(
        default=1.0,
        description="Centroid fallback: match when centres are closer than this many face widths.",
    )
    max_missed_s: Annotated[float, Field(gt=0, le=60)] = 1.5
    smoothing: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.4, description="EMA weight of the newest frame's probabilities (1 = none)."
    )
    min_seen_s: Annotated[float, Field(ge=0, le=60)] = Field(
        default=0.5,
        description="A track counts as a face in a window only after being seen this long.",
    )


class AggregationConfig(_Strict):
    """Tumbling windows."""

    window_s: Annotated[float, Field(ge=1, le=86400)] = 60.0


class PrivacyConfig(_Strict):
    """Anonymity rules applied before anything is published."""

    min_faces: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=3,
        description="k-anonymity: windows with fewer distinct faces publish no expressions.",
    )
    masks: Annotated[tuple[Region, ...], Field(max_length=32)] = Field(
        default=(),
        description="Regions blacked out on every frame before detection (edge.privacy).",
    )
    roi: Region | None = Field(
        default=None,
        description="Region of interest: faces whose box centre lies outside it are dropped "
        "before classification; null = the whole frame.",
    )
    min_face_px: Annotated[int, Field(ge=0, le=4096)] = Field(
        default=0,
        description="Faces whose box is narrower or lower than this many pixels are dropped "
        "before classification; 0 = keep all.",
    )
    dp: DpConfig = Field(default=DpConfig(), description="Differential privacy (Laplace).")


class MqttConfig(_Strict):
    """MQTT broker connection and topics."""

    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    topic_prefix: str = "edge"
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 60
    client_id: str | None = Field(default=None, max_length=128)
    qos: Literal[0, 1, 2] = 1
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT version.")
    username: str | None = Field(default=None, min_length=1, max_length=256)
    password_file: Path | None = Field(
        default=None,
        description="File holding the password; default $CREDENTIALS_DIRECTORY/mqtt_password. "
        "An empty file means no password.",
    )
    reconnect_initial_s: Annotated[float, Field(gt=0, le=60)] = Field(
        default=1.0, description="First reconnect delay; doubles (with jitter) per failure."
    )
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="Longest reconnect delay."
    )
    tls: TlsConfig = TlsConfig()
    outbox: OutboxConfig = OutboxConfig()

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_number(cls, value: Any) -> Any:
        return "5" if value == 5 else value  # YAML `protocol: 5` is an int

    @model_validator(mode="after")
    def _reconnect_order(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("mqtt.reconnect_max_s must be >= mqtt.reconnect_initial_s")
        return self

    @field_validator("host")
    @classmethod
    def _host_shape(cls, value: str) -> str:
        if not _HOST_RE.match(value):
            raise ValueError(
                f"{value!r} is not a host name or IP address (no scheme or port: use mqtt.port)"
            )
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        parts = value.split("/")
        if not all(_TOPIC_SEGMENT_RE.match(p) for p in parts):
            raise ValueError(
                "topic_prefix must be non-empty topic levels without '+', '#' or empty levels"
            )
        return value


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(_Strict):
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
    state_dir: Path | None = Field(
        default=None,
        description="Where seq and the outbox persist; default $STATE_DIRECTORY, else "
        "/var/lib/edge.",
    )


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the file: where it is, what is wrong, and how to fix it."""

    path: str
    line: int | None
    message: str
    hint: str

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line is not None else file
        return f"{where}: {self.path or '<root>'}: {self.message}\n    hint: {self.hint}"


class ConfigError(Exception):
    """The configuration cannot be used; ``issues`` lists every problem found."""

    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.file}: {len(self.issues)} configuration error(s)"
        return "\n".join([head, *(i.render(self.file) for i in self.issues)])

    def __str__(self) -> str:
        return self.render()


_HINTS: dict[str, str] = {
    "extra_forbidden": "remove this key or fix its spelling; see firmware_config/edge.yaml for "
    "every valid key",
    "missing": "add this key",
    "int_parsing": "write a whole number, e.g. 1883",
    "int_type": "write a whole number",
    "float_parsing": "write a number, e.g. 0.5",
    "float_type": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it if it looks like a number)",
    "literal_error": "use one of the listed values",
    "greater_than_equal": "raise the value to the minimum",
    "greater_than": "raise the value above the minimum",
    "less_than_equal": "lower the value to the maximum",
    "less_than": "lower the value below the maximum",
    "model_type": "this key holds a mapping of sub-keys (key: value lines indented below it)",
    "model_attributes_type": "this key holds a mapping of sub-keys",
    "dict_type": "this key holds a mapping of sub-keys",
    "string_too_short": "write a non-empty value",
    "string_too_long": "shorten the value",
    "too_short": "add items (a polygon needs at least 3 [x, y] points)",
    "too_long": "remove items",
}


def _hint_for(error_type: str, message: str) -> str:
    if error_type == "value_error":
        return "change the value as the message says"
    return _HINTS.get(error_type, "see firmware_config/edge.yaml for the documented key")


# --------------------------------------------------------------------------- YAML with lines


def _plain(node: Any, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> Any:
    """Convert ruamel's round-trip nodes to plain Python, recording each key's line (1-based)."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            try:
                line, _col = node.lc.key(key)
                lines[(*path, str(key))] = line + 1
            except (KeyError, TypeError):
                pass
            out[str(key) if not isinstance(key, str) else key] = _plain(
                value, (*path, str(key)), lines
            )
        return out
    if isinstance(node, CommentedSeq):
        result = []
        for index, value in enumerate(node):
            try:
                line, _col = node.lc.item(index)
                lines[(*path, index)] = line + 1
            except (KeyError, TypeError, IndexError):
                pass
            result.append(_plain(value, (*path, index), lines))
        return result
    return node


def _line_for(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    probe = loc
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe[:-1]
    return None


def parse_text(text: str, file: str = "<config>") -> Config:
    """Validate YAML ``text``; raise :class:`ConfigError` with every problem found."""
    yaml = YAML(typ="rt", pure=True)
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            file,
            [ConfigIssue("", line, f"not valid YAML: {exc.problem}", "fix the YAML syntax here")],
        ) from None
    lines: dict[tuple[str | int, ...], int] = {}
    data = _plain(raw, (), lines) if raw is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            file,
            [ConfigIssue("", 1, "the file must hold a mapping of keys", "start with e.g. 'mqtt:'")],
        )
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            path = ".".join(str(x) for x in loc)
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}" if loc else "unknown key"
            elif isinstance(err.get("input"), str | int | float | bool):
                message = f"{message} (got {err['input']!r})"
            issues.append(
                ConfigIssue(path, _line_for(loc, lines), message, _hint_for(err["type"], message))
            )
        issues.sort(key=lambda i: (i.line is None, i.line or 0, i.path))
        raise ConfigError(file, issues) from None


def load(path: str | Path) -> Config:
    """Read and validate the configuration file at ``path``."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    None,
                    "file not found",
                    "pass the path of your edge.yaml (example: firmware_config/edge.yaml)",
                )
            ],
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            file, [ConfigIssue("", None, f"cannot read file: {exc}", "check its permissions")]
        ) from None
    return parse_text(text, file)
