"""The pre-flight that ``edge config check`` and ``edge run`` share: everything the service
would trip over at start, checked before it starts, each problem at its YAML line.

Validation (:mod:`edge.config`) does no I/O; this does: model ids and files (hash, tensors,
that the runtime loads them), ``models.dir``, ``file:`` sources, the MQTT password file and
the TLS files, and the declared deployment context (AI Act Art. 5(1)(f)). It only reads.
Warnings (a password sent without TLS, an exempted context) do not stop a start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.config.deployment import deployment_verdict
from edge.config.errors import ConfigError, ConfigIssue
from edge.config.loader import LoadedConfig
from edge.config.source import parse_source
from edge.inference.models import ModelError, bundled_models_dir, get_spec, load_model
from edge.publish.connect import QOS2_REFUSED, MqttSetupError, load_credentials, tls_context

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
    deployment_issues, deployment_warnings = _deployment(loaded)
    issues += deployment_issues
    warnings += deployment_warnings
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
            issues.append(
                _issue(loaded, key, str(exc), "use a model id listed in the message")
            )
    return issues


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


def _deployment(loaded: LoadedConfig) -> tuple[list[ConfigIssue], list[str]]:
    """AI Act Art. 5(1)(f): no emotion recognition at work or in education without a medical
    or safety reason (:func:`edge.config.deployment_verdict`)."""
    verdict = deployment_verdict(loaded.config.deployment)
    warnings = [verdict.warning] if verdict.warning is not None else []
    if verdict.refusal is None:
        return [], warnings
    return [_issue(loaded, "deployment.context", verdict.refusal, verdict.refusal_hint)], warnings


def _mqtt(
    loaded: LoadedConfig, env: Mapping[str, str]
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


def checked_config(path: Path, env: Mapping[str, str]) -> tuple[LoadedConfig, Preflight]:
    """Load ``path``, validate it and run the pre-flight; raise :class:`ConfigError` with
    every problem (validation first, then the pre-flight)."""
    from edge.config.loader import load_document

    loaded = load_document(path)
    result = run_preflight(loaded, env)
    result.raise_for_issues(loaded.file)
    return loaded, result
