"""``edge config check PATH``: validate a config file and run the same pre-flight as
``edge run`` (models, files, sources, TLS); exit 2 with every problem found."""

from __future__ import annotations

import argparse
import os
import sys

from edge.cli.common import EXIT_OK, setup_logging
from edge.config import Config, deployment_verdict, device_id
from edge.config.source import redact_secrets


def cmd_config_check(args: argparse.Namespace) -> int:
    from edge.preflight import checked_config

    setup_logging(args.log_level or "WARNING")
    loaded, result = checked_config(args.path, os.environ)
    config = loaded.config
    for warning in result.warnings:
        print(f"{args.path}: warning: {warning}", file=sys.stderr)
    note = deployment_verdict(config.deployment).note
    if note is not None:
        print(f"{args.path}: note: {note}", file=sys.stderr)
    print(
        f"{args.path}: OK (device {device_id(config.device)}, "
        f"source {redact_secrets(config.camera.source)}, "
        f"broker {config.mqtt.host}:{config.mqtt.port}, window {config.aggregation.window_s:g} s, "
        f"k={config.privacy.min_faces}, {_mqtt_security(config)}; models, files and sources "
        "checked)"
    )
    return EXIT_OK


def _mqtt_security(config: Config) -> str:
    """TLS and login as a phrase for `config check`; names files, never a password."""
    mqtt = config.mqtt
    tls = "no TLS"
    if mqtt.tls.enabled:
        tls = "TLS without host-name check" if mqtt.tls.insecure else "TLS"
    user = f"user {mqtt.username!r}" if mqtt.username else "no user name"
    source = mqtt.password_file or "$CREDENTIALS_DIRECTORY/mqtt_password if present"
    return f"MQTT {mqtt.protocol}, {tls}, {user}, password from {source}"
