"""``edge config check PATH``: validate a config file; exit 2 with every problem found."""

from __future__ import annotations

import argparse

from edge.cli.common import EXIT_OK
from edge.config import Config, device_id, load


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load(args.path)
    print(
        f"{args.path}: OK (device {device_id(config.device)}, source {config.camera.source}, "
        f"broker {config.mqtt.host}:{config.mqtt.port}, window {config.aggregation.window_s:g} s, "
        f"k={config.privacy.min_faces}, {_mqtt_security(config)})"
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
