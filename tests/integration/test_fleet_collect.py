"""`edge fleet collect` with real parts: Mosquitto, PostgreSQL (initdb on a free port), the
device's own outbox/publisher code and the simulator. Exactly once in the store, dead
letters, and the registry/roll-ups/gaps the operator reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.publish.message import encode
from edge.publish.telemetry import TelemetrySample, telemetry_message
from edge.publish.topics import Topics
from edge.publish.window import as_historical, window_message
from edge.types import CameraStatus, Window
from tests.conftest import Broker
from tests.fleetparts import (
    MODELS,
    CollectorProc,
    RealDevice,
    query,
    scalar,
    wait_until,
)

pytestmark = pytest.mark.integration



@pytest.fixture
def collector(fleet_broker: Broker, postgres: Any, tmp_path: Path) -> Iterator[CollectorProc]:
    proc = CollectorProc(fleet_broker.port, postgres.dsn, "fleet-a", tmp_path / "a.log").start()
    try:
        wait_until(lambda: "connected to" in proc.text(), 30, "collector connected")
        wait_until(lambda: scalar(postgres.dsn, "SELECT count(*) FROM schema_migrations"),
                   30, "migrations applied")
        yield proc
    finally:
        proc.stop()


def _raw_client(broker: Broker, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def _window(start_s: float, faces: int = 4) -> Window:
    return Window(start_s, start_s + 1.0, faces, 1.0, 2.0, None, None, None, None, None, 10,
                  True, False) if faces < 3 else Window(
        start_s, start_s + 1.0, faces, 1.0, 2.0,
        {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 1.0, "sad": 0.0, "surprise": 0.0,
         "neutral": 0.0}, "happy", None, 1.0, 0.9, 10, False, False)


def test_device_windows_stored_once_with_registry_rollups_gaps_and_reflash(
    fleet_broker: Broker, postgres: Any, collector: CollectorProc, tmp_path: Path
) -> None:
    """Windows from a real device (outbox + publisher) are stored with its epoch; the
    registry shows it online, the roll-ups combine only published shares; re-deliveries
    (historical copies) are stored once; a seq gap is listed; a reflashed device (new epoch,
    seq 1 again) and a pre-epoch window are stored as new windows."""
    dsn = postgres.dsn
    device = RealDevice(tmp_path / "state", "lobby-1", fleet_broker.port)
    t0 = time.time() - 60
    try:
        for i, faces in enumerate([4, 4, 1, 4, 4]):
            device.close_window(t0 + i, faces=faces)
        wait_until(lambda: scalar(dsn, "SELECT count(*) FROM emotion_windows") == 5, 30,
                   "5 windows stored")
        epoch = device.outbox.epoch
    finally:
        device.close()
    rows = query(dsn, "SELECT epoch, seq, suppressed, happy FROM emotion_windows ORDER BY seq")
    assert [(r[0], r[1]) for r in rows] == [(epoch, s) for s in range(1, 6)]
    assert rows[2][2] is True and rows[2][3] is None
    wait_until(lambda: scalar(dsn, "SELECT status FROM devices WHERE device='lobby-1'")
               == "offline", 15, "status offline after the device closed")
    windows, suppressed, share = query(
        dsn, "SELECT sum(windows), sum(suppressed_windows), sum(happy_w) / sum(weight) "
        "FROM rollup_hourly WHERE device = 'lobby-1'")[0]
    assert (windows, suppressed) == (5, 1) and share == pytest.approx(0.5, abs=1e-4)
    assert query(dsn, "SELECT sum(windows) FROM rollup_daily")[0][0] == 5

    topics = Topics("edge", "lobby-1")
    raw = _raw_client(fleet_broker, "replayer")
    try:
        # the same windows again, as a device re-sends them after a lost PUBACK
        for seq in (1, 2):
            msg = window_message(_window(t0 + seq - 1), seq=seq, topics=topics, models=MODELS,
                                 qos=1, epoch=epoch)
            raw.publish(msg.topic, as_historical(msg.payload), qos=1).wait_for_publish(5)
        gap = window_message(_window(t0 + 8), seq=8, topics=topics, models=MODELS, qos=1,
                             epoch=epoch)
        raw.publish(gap.topic, gap.payload, qos=1).wait_for_publish(5)
        legacy = json.loads(window_message(_window(t0 + 20), seq=3, topics=topics,
                                           models=MODELS, qos=1).payload)
        assert "epoch" not in legacy
        raw.publish(topics.emotions, encode(legacy), qos=1).wait_for_publish(5)
        wait_until(lambda: scalar(dsn, "SELECT count(*) FROM emotion_windows") == 7, 30,
                   "gap window and legacy window stored")
    finally:
        raw.disconnect()
        raw.loop_stop()
    assert query(dsn, "SELECT first_missing, last_missing, missing FROM seq_gaps "
                 "WHERE epoch = %s", (epoch,)) == [(6, 7, 2)]
    assert scalar(dsn, "SELECT windows FROM device_epochs WHERE epoch = ''") == 1
    assert scalar(dsn, "SELECT sum(windows) FROM rollup_hourly") == 7  # no double counting

    reflashed = RealDevice(tmp_path / "wiped", "lobby-1", fleet_broker.port)
    try:
        assert reflashed.outbox.epoch != epoch
        reflashed.close_window(t0 + 30)
        reflashed.close_window(t0 + 31)
        wait_until(lambda: scalar(dsn, "SELECT count(*) FROM emotion_windows") == 9, 30,
                   "the reflashed device's windows stored as new ones")
    finally:
        reflashed.close()
    assert query(dsn, "SELECT seq FROM emotion_windows WHERE epoch = %s ORDER BY seq",
                 (reflashed.outbox.epoch,)) == [(1,), (2,)]
    assert scalar(dsn, "SELECT count(*) FROM dead_letters") == 0


def test_device_telemetry_fills_the_registry(
    fleet_broker: Broker, postgres: Any, collector: CollectorProc
) -> None:
    """Telemetry built by the device's own code sets the registry's camera state, outbox
    depth and drops and SoC temperature; an older reading arriving later does not overwrite
    a newer one."""
    dsn = postgres.dsn
    topics = Topics("edge", "gate-5")
    now = time.time()

    def sample(t: float, depth: int, state: str) -> bytes:
        s = TelemetrySample(
            time_s=t, uptime_s=5.0, version="0.1.0", analysis=True, fps_in=10.0,
            fps_processed=9.5, frames_dropped=0, detect_ms=(5.0, 7.0), classify_ms=None,
            faces_now=1, mqtt_reconnects=0, outbox_depth=depth, outbox_bytes=100,
            outbox_oldest_s=None, dropped={"max_messages": 2, "max_age": 0, "max_bytes": 0,
                                           "rejected": 0, "write_error": 1},
            soc_temp_c=61.5, camera=CameraStatus(state, t - 3, 2),  # type: ignore[arg-type]
        )
        return telemetry_message(s, topics=topics, models=MODELS).payload

    raw = _raw_client(fleet_broker, "telemetry")
    try:
        raw.publish(topics.telemetry, sample(now, 12, "lost"), qos=1).wait_for_publish(5)
        wait_until(lambda: scalar(dsn, "SELECT camera_state FROM devices WHERE device = %s",
                                  ("gate-5",)) == "lost", 30, "telemetry stored")
        raw.publish(topics.telemetry, sample(now - 60, 1, "ok"), qos=1).wait_for_publish(5)
        raw.publish(topics.status, b"online", qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda: scalar(dsn, "SELECT status FROM devices WHERE device = %s",
                                  ("gate-5",)) == "online", 30, "status stored")
    finally:
        raw.disconnect()
        raw.loop_stop()
    row = query(dsn, "SELECT camera_state, outbox_depth, outbox_dropped, soc_temp_c FROM devices "
                "WHERE device = 'gate-5'")[0]
    assert row == ("lost", 12, 3, pytest.approx(61.5))


def test_collector_from_a_config_file_with_sites_and_credentials(
    fleet_broker: Broker, postgres: Any, tmp_path: Path
) -> None:
    """`edge fleet collect --config FILE` (broker, database, group, sites) with the database
    password from $CREDENTIALS_DIRECTORY/db_password stores windows and assigns the devices
    to their sites; an unreadable password file is one line and exit status 2."""
    import os
    import subprocess
    import sys

    from edge.fleet.simulate import SimulatedFleet

    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"mqtt:\n  host: 127.0.0.1\n  port: {fleet_broker.port}\n  client_id: fleet-cfg\n"
        f"  group: g1\ndatabase:\n  dsn: \"{postgres.dsn}\"\n  retention_days: 30\n"
        "sites:\n  hall: [c-00000]\n  yard: [c-00001]\n"
    )
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "db_password").write_text("unused-with-trust-auth\n")
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
    log = tmp_path / "c.log"
    proc = subprocess.Popen([sys.executable, "-m", "edge", "fleet", "collect", "--config",
                             str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=env)
    fleet = SimulatedFleet(fleet_broker.host, fleet_broker.port, 2, id_prefix="c")
    try:
        wait_until(lambda: "connected to" in log.read_text(), 30, "collector connected")
        wait_until(lambda: scalar(postgres.dsn, "SELECT count(*) FROM sites") == 2, 30,
                   "sites registered")
        fleet.connect()
        for device in fleet.devices:
            fleet.publish(device)
        assert fleet.drain(10)
        wait_until(lambda: scalar(postgres.dsn, "SELECT count(*) FROM emotion_windows") == 2,
                   30, "windows stored")
    finally:
        fleet.close()
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0
    assert query(postgres.dsn, "SELECT device, site FROM devices ORDER BY device") == [
        ("c-00000", "hall"), ("c-00001", "yard")]
    config.write_text(config.read_text().replace("retention_days: 30",
                                                 f"password_file: {tmp_path / 'nope'}"))
    bad = subprocess.run(
        [sys.executable, "-m", "edge", "fleet", "collect", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "database.password_file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_retention_drops_old_partitions_and_creates_ahead(postgres: Any) -> None:
    """Maintenance creates today's and the next days' partitions and drops whole daily
    partitions older than retention_days (windows in them go with them)."""
    from datetime import UTC, datetime, timedelta

    from edge.fleet.store import Store, partition_name

    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with Store(postgres.dsn, retention_days=3) as store:
        store.migrate()
        old = today - timedelta(days=10)
        store.ensure_partitions({old})
        assert store.maintain(now) == [partition_name(old)]
        names = {r[0] for r in query(postgres.dsn, "SELECT c.relname FROM pg_inherits i JOIN "
                 "pg_class c ON c.oid = i.inhrelid "
                 "WHERE i.inhparent = 'emotion_windows'::regclass")}
        assert names == {partition_name(today + timedelta(days=n)) for n in range(3)}
        assert store.maintain(now) == []
        assert store.migrate() == []  # already applied: nothing to do


def test_bad_payloads_become_dead_letters_and_never_block(
    fleet_broker: Broker, postgres: Any, collector: CollectorProc
) -> None:
    """A 1 MB payload, binary bytes, non-JSON, an unknown schema, a schema violation, a
    payload naming another device and a bad status each land in dead_letters with their
    reason; the collector keeps running and stores the valid window sent after them."""
    dsn = postgres.dsn
    topics = Topics("edge", "door-2")
    good = window_message(_window(time.time() - 5), seq=1, topics=topics, models=MODELS, qos=1,
                          epoch="00000000000000aa")
    doc = json.loads(good.payload)
    bad: list[tuple[str, bytes]] = [
        (topics.emotions, b"{" + b" " * (1024 * 1024) + b"}"),
        (topics.emotions, bytes(range(256))),
        (topics.emotions, b"{not json"),
        (topics.emotions, encode({**doc, "schema": "edge.emotions/2"})),
        (topics.emotions, encode({**doc, "seq": 0})),
        (Topics("edge", "other").emotions, good.payload),
        (topics.status, b"maybe"),
    ]
    raw = _raw_client(fleet_broker, "junk")
    try:
        for topic, payload in bad:
            raw.publish(topic, payload, qos=1).wait_for_publish(10)
        raw.publish(good.topic, good.payload, qos=1).wait_for_publish(5)
        wait_until(lambda: scalar(dsn, "SELECT count(*) FROM emotion_windows") == 1, 30,
                   "the valid window stored after the bad ones")
        wait_until(lambda: scalar(dsn, "SELECT count(*) FROM dead_letters") == len(bad), 30,
                   "every bad payload kept as a dead letter")
    finally:
        raw.disconnect()
        raw.loop_stop()
    reasons = sorted(r[0] for r in query(dsn, "SELECT reason FROM dead_letters"))
    assert reasons == sorted(["oversize", "binary", "json", "unknown_schema", "schema",
                              "device_mismatch", "status"])
    size = scalar(dsn, "SELECT max(size) FROM dead_letters WHERE reason = 'oversize'")
    head = scalar(dsn, "SELECT max(length(payload_head)) FROM dead_letters")
    assert size > 1024 * 1024 and head == 1024
    assert collector.proc is not None and collector.proc.poll() is None
    assert "dead letter from edge/door-2/emotions: oversize" in collector.text()
