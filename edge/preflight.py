"""The pre-flight that ``edge config check`` and ``edge run`` share: everything the service
would trip over at start, checked before it starts, each problem at its YAML line.

Validation (:mod:`edge.config`) does no I/O; this does: model ids and files (hash, tensors,
that the runtime loads them), ``models.dir``, ``file:`` sources, the MQTT password file and
the TLS files, and the declared deployment context (AI Act Art. 5(1)(f)). It only reads.
Warnings (a password sent without TLS, an exempted context) do not stop a start.

What it builds to check, it hands on: a clean pre-flight carries a :class:`Prepared` (the
loaded and verified models, the TLS context, the parsed camera source) that ``edge run`` and
``edge demo`` give to :class:`edge.app.Service`, so each is made once per start.
"""

from __future__ import annotations

import logging
import shutil
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from edge.config import Config
from edge.config.deployment import deployment_verdict
from edge.config.errors import ConfigError, ConfigIssue
from edge.config.loader import LoadedConfig
from edge.config.source import SourceSpec, parse_source
from edge.inference.analyzer import FaceAnalyzer, load_classifier, load_detector
from edge.inference.models import ModelError, bundled_models_dir, read_manifest
from edge.publish.connect import QOS2_REASON, MqttSetupError, load_credentials, tls_context
from edge.publish.diskfault import human_bytes
from edge.service.state import resolve_state_dir

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a start needs, made once by the pre-flight and handed to the service: the
    config, both models loaded and verified, the parsed camera source and the MQTT TLS
    context (None without TLS) that every connection of the publisher uses."""

    config: Config
    analyzer: FaceAnalyzer
    source: SourceSpec
    tls: ssl.SSLContext | None


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the pre-flight found: problems that stop a start, and warnings; with no
    problem, :attr:`prepared` holds what it built."""

    issues: tuple[ConfigIssue, ...]
    warnings: tuple[str, ...]
    prepared: Prepared | None = None

    def raise_for_issues(self, file: str) -> None:
        if self.issues:
            raise ConfigError(file, list(self.issues))

    def ready(self, file: str) -> Prepared:
        """:attr:`prepared`, or :class:`ConfigError` with every problem."""
        self.raise_for_issues(file)
        assert self.prepared is not None  # no issue: every part was built
        return self.prepared


@dataclass(slots=True)
class _Built:
    """What the checks built on the way, collected into :class:`Prepared` when all pass."""

    analyzer: FaceAnalyzer | None = None
    source: SourceSpec | None = None
    tls: ssl.SSLContext | None = None


def run_preflight(loaded: LoadedConfig, env: Mapping[str, str]) -> Preflight:
    """Check ``loaded`` against this machine; never raises for what it finds."""
    built = _Built()
    issues: list[ConfigIssue] = []
    issues += _models(loaded, built)
    issues += _source(loaded, built)
    mqtt_issues, warnings = _mqtt(loaded, env, built)
    issues += mqtt_issues
    state_issues, state_warnings = _state_dir(loaded, env)
    issues += state_issues
    warnings += state_warnings + _camera_device(loaded, built.source) + _all_defaults(loaded)
    deployment_issues, deployment_warnings = _deployment(loaded)
    issues += deployment_issues
    warnings += deployment_warnings
    issues.sort(key=lambda i: (i.line is None, i.line or 0, i.path))
    prepared = None
    if not issues and built.analyzer is not None and built.source is not None:
        prepared = Prepared(loaded.config, built.analyzer, built.source, built.tls)
    return Preflight(tuple(issues), tuple(warnings), prepared)


def prepare(config: Config, env: Mapping[str, str], origin: str) -> tuple[Prepared, Preflight]:
    """The pre-flight of a config made from flags (``edge demo``): problems
    raise :class:`ConfigError` naming ``origin`` (no YAML lines)."""
    result = run_preflight(LoadedConfig(config, origin, {}), env)
    return result.ready(origin), result


def _issue(loaded: LoadedConfig, path: str, message: str, hint: str) -> ConfigIssue:
    return ConfigIssue(path, loaded.line_for(*path.split(".")), message, hint)


def _models(loaded: LoadedConfig, built: _Built) -> list[ConfigIssue]:
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
    issues: list[ConfigIssue] = []
    detector = _load(
        loaded, "detector.model", lambda: load_detector(config, models_dir), issues, models_dir
    )
    classifier = _load(
        loaded, "classifier.model", lambda: load_classifier(config, models_dir), issues, models_dir
    )
    if detector is not None and classifier is not None:  # loaded once, here, for the service
        built.analyzer = FaceAnalyzer(detector, classifier)
    return issues


def _load(
    loaded: LoadedConfig,
    key: str,
    load: Callable[[], _T],
    issues: list[ConfigIssue],
    models_dir: Path,
) -> _T | None:
    try:
        return load()
    except ModelError as exc:
        kind = key.split(".", maxsplit=1)[0]
        issues.append(_issue(loaded, key, str(exc), _model_hint(models_dir, kind, exc)))
        return None


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


def _camera_device(loaded: LoadedConfig, spec: SourceSpec | None) -> list[str]:
    """A V4L2 device that does not exist (yet): a warning, as it may be plugged in later."""
    if spec is None or spec.kind != "v4l2":
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


def _source(loaded: LoadedConfig, built: _Built) -> list[ConfigIssue]:
    spec = built.source = parse_source(loaded.config.camera.source)
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


def _deployment(loaded: LoadedConfig) -> tuple[list[ConfigIssue], list[str]]:
    """AI Act Art. 5(1)(f): no emotion recognition at work or in education without a medical
    or safety reason (:func:`edge.config.deployment_verdict`)."""
    verdict = deployment_verdict(loaded.config.deployment)
    warnings = [verdict.warning] if verdict.warning is not None else []
    if verdict.refusal is None:
        return [], warnings
    return [_issue(loaded, "deployment.context", verdict.refusal, verdict.refusal_hint)], warnings


def _mqtt(
    loaded: LoadedConfig, env: Mapping[str, str], built: _Built
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
        built.tls = tls_context(mqtt)
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
