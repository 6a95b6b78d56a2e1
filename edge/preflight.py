"""The pre-flight that ``edge config check`` and ``edge run`` share: everything the service
would trip over at start, checked before it starts, each problem at its YAML line.

Validation (:mod:`edge.config`) does no I/O; this does: model ids and files (hash, tensors,
that the runtime loads them), ``models.dir``, ``file:`` sources, the MQTT password file and
the TLS files. It only reads. Warnings (a password sent without TLS) do not stop a start.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.config.errors import ConfigError, ConfigIssue
from edge.config.loader import LoadedConfig
from edge.config.source import parse_source
from edge.inference.models import (
    ModelError,
    bundled_models_dir,
    get_spec,
    load_model,
    read_manifest,
)
from edge.publish.connect import QOS2_REASON, MqttSetupError, load_credentials, tls_context
from edge.publish.diskfault import human_bytes
from edge.service.state import resolve_state_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the pre-flight found: problems that stop a start, and warnings."""

    issues: tuple[ConfigIssue, ...]
    warnings: tuple[str, ...]

    def raise_for_issues(self, file: str) -> None:
        if self.issues:
            raise ConfigError(file, list(self.issues))


def run_preflight(loaded: LoadedConfig, env: Mapping[str, str]) -> Preflight:
    """Check ``loaded`` against this machine; never raises for what it finds."""
    issues: list[ConfigIssue] = []
    issues += _models(loaded)
    issues += _source(loaded)
    mqtt_issues, warnings = _mqtt(loaded, env)
    issues += mqtt_issues
    state_issues, state_warnings = _state_dir(loaded, env)
    issues += state_issues
    warnings += state_warnings + _camera_device(loaded) + _all_defaults(loaded)
    issues.sort(key=lambda i: (i.line is None, i.line or 0, i.path))
    return Preflight(tuple(issues), tuple(warnings))


def _issue(loaded: LoadedConfig, path: str, message: str, hint: str) -> ConfigIssue:
    return ConfigIssue(path, loaded.line_for(*path.split(".")), message, hint)


def _models(loaded: LoadedConfig) -> list[ConfigIssue]:
    config = loaded.config
    models_dir = config.models.dir if config.models.dir is not None else bundled_models_dir()
    if config.models.dir is not None and not (models_dir / "manifest.toml").is_file():
        return [
            _issue(
                loaded,
                "models.dir",
                f"{models_dir} holds no manifest.toml",
                "point models.dir at the folder with manifest.toml, or remove the key to use "
                "the bundled models",
            )
        ]
    issues = []
    for key, model_id, kind, threads in (
        ("detector.model", config.detector.model, "detector", 1),
        ("classifier.model", config.classifier.model, "classifier", 1),
    ):
        try:
            load_model(get_spec(models_dir, model_id, kind), threads)
        except ModelError as exc:
            issues.append(_issue(loaded, key, str(exc), _model_hint(models_dir, kind, exc)))
    return issues


def _model_hint(models_dir: Path, kind: str, exc: ModelError) -> str:
    """How to fix a model problem: restore a missing or corrupt file, and the ids of this
    kind that the manifest has (the message itself may list none)."""
    try:
        ids = sorted(i for i, spec in read_manifest(models_dir).items() if spec.kind == kind)
    except ModelError:
        return "fix the manifest as the message says, or reinstall edge-emotion"
    restore = (
        "restore the file: reinstall edge-emotion (pip install --force-reinstall "
        "edge-emotion) or, in a checkout, run `python models/build.py --check` to see which "
        "files differ; or use another "
        if exc.restore
        else "use a "
    )
    return f"{restore}{kind} model id from {models_dir / 'manifest.toml'}: {', '.join(ids)}"


def _warning(loaded: LoadedConfig, path: str, message: str, hint: str) -> str:
    """A warning as one line with its YAML line, key path and hint."""
    line = loaded.line_for(*path.split("."))
    where = f"line {line}: " if line is not None else ""
    return f"{where}{path}: {message} (hint: {hint})"


def _camera_device(loaded: LoadedConfig) -> list[str]:
    """A V4L2 device that does not exist (yet): a warning, as it may be plugged in later."""
    spec = parse_source(loaded.config.camera.source)
    if spec.kind != "v4l2":
        return []
    device = Path(f"/dev/video{spec.target}" if spec.target.isdigit() else spec.target)
    if device.exists():
        return []
    return [
        _warning(
            loaded,
            "camera.source",
            f"V4L2 device {device} does not exist (yet); edge run keeps trying to open it",
            "plug the camera in, or pick the right device from `ls /dev/video*` "
            "(`v4l2-ctl --list-devices` names them)",
        )
    ]


#: Below this much free space in the state directory the outbox cannot start; below
#: ``STATE_LOW_BYTES`` it is a warning (windows pile up there while the broker is away).
STATE_MIN_BYTES = 1024 * 1024
STATE_LOW_BYTES = 64 * 1024 * 1024


def _state_dir(
    loaded: LoadedConfig, env: Mapping[str, str]
) -> tuple[list[ConfigIssue], list[str]]:
    """The state directory must be (or become) a folder on a file system with room."""
    path = resolve_state_dir(loaded.config.state_dir, env)
    origin = "$STATE_DIRECTORY" if env.get("STATE_DIRECTORY") else "state directory"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == path else f"lies under {existing}, which is a file"
        return [
            _issue(
                loaded,
                "state_dir",
                f"{origin} {path} {what}, not a folder",
                "point state_dir at a folder (it is created if missing), or move the file away",
            )
        ], []
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return [], []
    room = f"{origin} {path}: {human_bytes(free)} free on its file system"
    fix = "free space there, or point state_dir at a file system with room"
    if free < STATE_MIN_BYTES:
        message = f"{room}; the outbox needs at least {human_bytes(STATE_MIN_BYTES)}"
        return [_issue(loaded, "state_dir", message, fix)], []
    if free < STATE_LOW_BYTES:
        message = f"{room}; undelivered windows wait there while the broker is away"
        return [], [_warning(loaded, "state_dir", message, fix)]
    return [], []


def _all_defaults(loaded: LoadedConfig) -> list[str]:
    """An empty file is valid, but say which defaults it runs with."""
    if loaded.lines:
        return []
    config = loaded.config
    return [
        "the file sets no key, so every default applies: camera.source "
        f"{config.camera.source}, MQTT broker {config.mqtt.host}:{config.mqtt.port} without "
        f"TLS, state directory {resolve_state_dir(None, {})} (hint: copy "
        "firmware_config/edge.yaml, which lists every key with its default, and set at least "
        "camera.source and mqtt.host)"
    ]


def _source(loaded: LoadedConfig) -> list[ConfigIssue]:
    spec = parse_source(loaded.config.camera.source)
    if spec.kind == "file" and not Path(spec.target).exists():
        return [
            _issue(
                loaded,
                "camera.source",
                f"file {spec.target} does not exist",
                "give the path of a video file or of a folder of images",
            )
        ]
    return []


def _mqtt(
    loaded: LoadedConfig, env: Mapping[str, str]
) -> tuple[list[ConfigIssue], list[str]]:
    mqtt = loaded.config.mqtt
    issues: list[ConfigIssue] = []
    warnings: list[str] = []
    if mqtt.qos == 2:
        issues.append(_issue(loaded, "mqtt.qos", QOS2_REASON, "write qos: 1"))
    try:
        credentials = load_credentials(mqtt, env)
    except MqttSetupError as exc:
        key = "mqtt.password_file" if mqtt.password_file is not None else "mqtt.username"
        issues.append(_issue(loaded, key, str(exc), "fix the path or the file's permissions"))
    else:
        if credentials.password is not None and not mqtt.tls.enabled and not _loopback(mqtt.host):
            warnings.append(
                "mqtt: a password is set but mqtt.tls.enabled is false, so the password "
                f"crosses the network to {mqtt.host}:{mqtt.port} in clear text; enable TLS "
                "(mqtt.tls) unless the broker is on this machine"
            )
    try:
        tls_context(mqtt)
    except MqttSetupError as exc:
        text = str(exc)
        key = next(
            (k for k in ("mqtt.tls.ca_file", "mqtt.tls.cert_file", "mqtt.tls.key_file")
             if k in text),
            "mqtt.tls",
        )
        issues.append(_issue(loaded, key, text, "fix the path or the file's permissions"))
    return issues, warnings


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (localhost, 127.0.0.0/8, ::1): a password sent there
    never crosses a network."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def checked_config(path: Path, env: Mapping[str, str]) -> tuple[LoadedConfig, Preflight]:
    """Load ``path``, validate it and run the pre-flight; raise :class:`ConfigError` with
    every problem (validation first, then the pre-flight)."""
    from edge.config.loader import load_document

    loaded = load_document(path)
    result = run_preflight(loaded, env)
    result.raise_for_issues(loaded.file)
    return loaded, result
