"""The pre-flight that ``edge config check`` and ``edge run`` share: everything the service
would trip over at start, checked before it starts, each problem at its YAML line.

Validation (:mod:`edge.config`) does no I/O; this does: model ids and files (hash, tensors,
that the runtime loads them), ``models.dir``, ``file:`` sources, the MQTT password file and
the TLS files. It only reads. Warnings (a password sent without TLS) do not stop a start.

What it builds to check, it hands on: a clean pre-flight carries a :class:`Prepared` (the
loaded and verified models, the TLS context, the parsed camera source) that ``edge run`` and
``edge demo`` give to :class:`edge.app.Service`, so each is made once per start.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from edge.config import Config
from edge.config.errors import ConfigError, ConfigIssue
from edge.config.loader import LoadedConfig
from edge.config.source import SourceSpec, parse_source
from edge.inference.analyzer import FaceAnalyzer, load_classifier, load_detector
from edge.inference.models import ModelError, bundled_models_dir
from edge.publish.connect import QOS2_REFUSED, MqttSetupError, load_credentials, tls_context

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
    detector = _load(loaded, "detector.model", lambda: load_detector(config, models_dir), issues)
    classifier = _load(
        loaded, "classifier.model", lambda: load_classifier(config, models_dir), issues
    )
    if detector is not None and classifier is not None:  # loaded once, here, for the service
        built.analyzer = FaceAnalyzer(detector, classifier)
    return issues


def _load(
    loaded: LoadedConfig, key: str, load: Callable[[], _T], issues: list[ConfigIssue]
) -> _T | None:
    try:
        return load()
    except ModelError as exc:
        issues.append(_issue(loaded, key, str(exc), "use a model id listed in the message"))
        return None


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


def _mqtt(
    loaded: LoadedConfig, env: Mapping[str, str], built: _Built
) -> tuple[list[ConfigIssue], list[str]]:
    mqtt = loaded.config.mqtt
    issues: list[ConfigIssue] = []
    warnings: list[str] = []
    if mqtt.qos == 2:
        issues.append(_issue(loaded, "mqtt.qos", QOS2_REFUSED, "write qos: 1"))
    try:
        credentials = load_credentials(mqtt, env)
    except MqttSetupError as exc:
        key = "mqtt.password_file" if mqtt.password_file is not None else "mqtt.username"
        issues.append(_issue(loaded, key, str(exc), "fix the path or the file's permissions"))
    else:
        if credentials.password is not None and not mqtt.tls.enabled:
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


def checked_config(path: Path, env: Mapping[str, str]) -> tuple[LoadedConfig, Preflight]:
    """Load ``path``, validate it and run the pre-flight; raise :class:`ConfigError` with
    every problem (validation first, then the pre-flight)."""
    from edge.config.loader import load_document

    loaded = load_document(path)
    result = run_preflight(loaded, env)
    result.raise_for_issues(loaded.file)
    return loaded, result
