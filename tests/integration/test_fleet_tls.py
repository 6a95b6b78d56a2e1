"""`edge fleet collect` over TLS with a login, like the device's `mqtt:` settings (the same
code: edge.publish.connect), and one clear log line naming the setting when the CA is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.fleet.simulate import SimulatedFleet
from tests.conftest import Broker
from tests.fleetparts import scalar, wait_until
from tests.integration.test_mqtt_security import Pki, pki, tls_broker  # noqa: F401

pytestmark = pytest.mark.integration


def _collector(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edge", "fleet", "collect", "--config",
                             str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=env)


def test_collector_over_tls_with_password_credential(
    tls_broker: tuple[Broker, int], pki: Pki, postgres: Any, tmp_path: Path  # noqa: F811
) -> None:
    """TLS (the test CA) with user and password from $CREDENTIALS_DIRECTORY/mqtt_password:
    windows are stored. With another CA the collector logs one error naming mqtt.tls.ca_file
    and keeps retrying instead of exiting."""
    broker, tls_port = tls_broker
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("right-password\n")
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
    config = tmp_path / "fleet.yaml"
    base = (f"mqtt:\n  host: 127.0.0.1\n  port: {tls_port}\n  client_id: fleet-tls\n"
            f"  username: sensor\n  tls:\n    enabled: true\n    ca_file: {{ca}}\n"
            f"database:\n  dsn: \"{postgres.dsn}\"\n")
    config.write_text(base.format(ca=pki.ca))
    log = tmp_path / "c.log"
    proc = _collector(config, env, log)
    fleet = SimulatedFleet(broker.host, broker.port, 2, id_prefix="t")
    try:
        wait_until(lambda: "connected to" in log.read_text(), 30, "collector connected")
        fleet.connect()
        for device in fleet.devices:
            fleet.publish(device)
        assert fleet.drain(10)
        wait_until(lambda: scalar(postgres.dsn, "SELECT count(*) FROM emotion_windows") == 2,
                   30, "windows stored over TLS")
    finally:
        fleet.close()
        proc.terminate()
        proc.wait(15)
    assert "right-password" not in log.read_text()

    config.write_text(base.format(ca=pki.other_ca))
    wrong = tmp_path / "wrong.log"
    proc = _collector(config, env, wrong)
    try:
        wait_until(lambda: "mqtt.tls.ca_file" in wrong.read_text(), 30, "TLS error logged")
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(15)
    errors = [line for line in wrong.read_text().splitlines() if "TLS certificate" in line]
    assert len(errors) == 1, wrong.read_text()
