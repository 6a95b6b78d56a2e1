"""Fault tests of `edge fleet collect` (issue 20): a collector SIGKILLed mid-stream and
restarted with the same client id, PostgreSQL stopped, the broker restarted while a device
keeps closing windows (it replays its outbox afterwards). Each ends with every window
stored exactly once: counts equal what was published, no seq gap, roll-ups not doubled."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edge.fleet.simulate import SimulatedFleet
from tests.conftest import Broker
from tests.fleetparts import CollectorProc, RealDevice, query, scalar, wait_until

pytestmark = pytest.mark.integration



def _start(
    broker: Broker, dsn: str, client_id: str, log: Path, extra: tuple[str, ...] = ()
) -> CollectorProc:
    proc = CollectorProc(broker.port, dsn, client_id, log, extra).start()
    wait_until(lambda: "connected to" in proc.text(), 30, f"{client_id} connected")
    wait_until(lambda: scalar(dsn, "SELECT count(*) FROM schema_migrations"), 30,
               "migrations applied")
    return proc


def _stored(dsn: str) -> int:
    return int(scalar(dsn, "SELECT count(*) FROM emotion_windows") or 0)


def _assert_exactly_once(dsn: str, fleet: SimulatedFleet) -> None:
    """Every simulated window is stored once: per device seq 1..n with no gap, and the
    roll-ups count each window once."""
    sent = {d.device_id: d.seq for d in fleet.devices}
    got = dict(query(dsn, "SELECT device, max_seq FROM device_epochs WHERE min_seq = 1 "
                     "AND windows = max_seq"))
    assert got == sent
    assert query(dsn, "SELECT count(*) FROM seq_gaps") == [(0,)]
    assert scalar(dsn, "SELECT sum(windows) FROM rollup_hourly") == sum(sent.values())
    assert scalar(dsn, "SELECT sum(windows) FROM rollup_daily") == sum(sent.values())


def _publishing(fleet: SimulatedFleet, rate: float, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=fleet.run, args=(rate, None, stop), daemon=True)
    thread.start()
    return thread


def _finish(fleet: SimulatedFleet, thread: threading.Thread, stop: threading.Event) -> int:
    stop.set()
    thread.join(30)
    assert fleet.drain(60), "the broker did not acknowledge every simulated window"
    return fleet.published - len(fleet.devices)  # minus the status messages


def test_sigkilled_collector_restarted_with_same_id_loses_and_doubles_nothing(
    fleet_broker: Broker, postgres: Any, tmp_path: Path
) -> None:
    """Two collectors share the load; one is SIGKILLed mid-stream (its in-flight messages
    unacknowledged), the other keeps storing meanwhile, and the killed one is restarted with
    the same client id as systemd would: its persistent session hands back what was in
    flight and queued to it. Every window is stored exactly once."""
    dsn = postgres.dsn
    a = _start(fleet_broker, dsn, "fleet-a", tmp_path / "a.log")
    b = _start(fleet_broker, dsn, "fleet-b", tmp_path / "b.log")
    fleet = SimulatedFleet(fleet_broker.host, fleet_broker.port, 20, id_prefix="k")
    stop = threading.Event()
    try:
        fleet.connect()
        thread = _publishing(fleet, 10.0, stop)
        wait_until(lambda: _stored(dsn) >= 300, 60, "300 windows stored by both")
        a.kill()
        at_kill = _stored(dsn)
        wait_until(lambda: _stored(dsn) >= at_kill + 300, 60, "the survivor storing alone")
        a.start()
        wait_until(lambda: a.text().count("connected to") == 2, 30, "fleet-a back")
        wait_until(lambda: _stored(dsn) >= at_kill + 600, 60, "both storing again")
        expected = _finish(fleet, thread, stop)
        wait_until(lambda: _stored(dsn) == expected, 90, f"all {expected} windows stored")
        _assert_exactly_once(dsn, fleet)
        assert "session present: True" in a.text().split("connected to")[-1]
    finally:
        stop.set()
        fleet.close()
        a.stop()
        b.stop()


def test_database_stopped_nothing_acked_until_it_returns(
    fleet_broker: Broker, postgres: Any, tmp_path: Path
) -> None:
    """PostgreSQL stops while devices publish (longer than the collector's 1 000-message
    receive window, so the broker must keep the rest in the collector's session): the
    collector logs the outage, acknowledges nothing, keeps running, and once the database
    is back stores every window exactly once."""
    dsn = postgres.dsn
    a = _start(fleet_broker, dsn, "fleet-a", tmp_path / "a.log")
    fleet = SimulatedFleet(fleet_broker.host, fleet_broker.port, 20, id_prefix="d")
    stop = threading.Event()
    try:
        fleet.connect()
        thread = _publishing(fleet, 10.0, stop)
        wait_until(lambda: _stored(dsn) >= 100, 60, "windows stored before the outage")
        postgres.stop()
        before = fleet.published
        wait_until(lambda: "database unavailable" in a.text()
                   or "cannot reach the database" in a.text(), 30, "outage logged")
        wait_until(lambda: fleet.published >= before + 1500, 60,
                   "1 500 windows published during the outage")
        assert a.proc is not None and a.proc.poll() is None
        postgres.start()
        expected = _finish(fleet, thread, stop)
        wait_until(lambda: _stored(dsn) == expected, 90, f"all {expected} windows stored")
        _assert_exactly_once(dsn, fleet)
    finally:
        stop.set()
        fleet.close()
        a.stop()


def test_received_but_uncommitted_windows_survive_sigkill(
    fleet_broker: Broker, postgres: Any, tmp_path: Path
) -> None:
    """With the database down, a collector receives windows (they sit unacknowledged in its
    memory) and is SIGKILLed; after the database and the collector return, every window is
    stored: nothing was acknowledged before its commit."""
    dsn = postgres.dsn
    a = _start(fleet_broker, dsn, "fleet-a", tmp_path / "a.log")
    postgres.stop()
    fleet = SimulatedFleet(fleet_broker.host, fleet_broker.port, 5, id_prefix="m")
    try:
        fleet.connect()
        for _ in range(20):
            for device in fleet.devices:
                fleet.publish(device)
        assert fleet.drain(30)
        wait_until(lambda: max(map(int, re.findall(r"(\d+) message\(s\) wait", a.text())),
                               default=0) >= 100, 60,
                   "the windows received and held unacknowledged")
        a.kill()
        postgres.start()
        a.start()
        wait_until(lambda: _stored(dsn) == 100, 60, "all 100 windows stored after the restart")
        _assert_exactly_once(dsn, fleet)
    finally:
        fleet.close()
        a.stop()


def test_broker_restart_then_device_replays_its_outbox(
    fleet_broker: Broker, postgres: Any, tmp_path: Path
) -> None:
    """The broker restarts while a real device is offline with windows in its outbox; the
    collector resumes its persistent session (shared subscription), the device comes back
    and replays its outbox as historical windows; every window is stored once, live ones
    not historical."""
    dsn = postgres.dsn
    a = _start(fleet_broker, dsn, "fleet-a", tmp_path / "a.log")
    device = RealDevice(tmp_path / "state", "hall-3", fleet_broker.port)
    try:
        assert device.mqtt.wait_connected(10)
        for _ in range(2):
            device.close_window(time.time() - 1.0)
        wait_until(lambda: _stored(dsn) == 2, 30, "live windows stored")
        fleet_broker.stop()
        last_end = 0.0
        for _ in range(3):
            last_end = time.time()
            device.close_window(last_end - 1.0)
        assert device.outbox.depth == 3
    finally:
        device.close()  # the device is off for now; its windows wait in the outbox
    fleet_broker.start()
    wait_until(lambda: a.text().count("connected to") >= 2, 60, "collector reconnected")
    wait_until(lambda: time.time() > last_end + 2.5, 10, "the outage outlasts 2 windows")
    device = RealDevice(tmp_path / "state", "hall-3", fleet_broker.port)
    try:
        wait_until(lambda: _stored(dsn) == 5, 60, "replayed windows stored")
        wait_until(lambda: device.outbox.depth == 0, 30, "device outbox drained")
    finally:
        device.close()
        a.stop()
    rows = query(dsn, "SELECT seq, historical FROM emotion_windows ORDER BY seq")
    assert rows == [(1, False), (2, False), (3, True), (4, True), (5, True)]
    assert "session present: True" in a.text().split("connected to")[-1]
    assert scalar(dsn, "SELECT sum(windows) FROM rollup_hourly") == 5


def test_broker_restart_plain_subscription_keeps_an_offline_session(
    fleet_broker: Broker, postgres: Any, tmp_path: Path
) -> None:
    """With `--group ''` (plain subscriptions, one collector) a broker restart loses nothing
    even when a device replays its outbox before the collector is back: Mosquitto queues
    for the restored offline session (it does not for a restored shared subscription,
    docs/fleet.md)."""
    dsn = postgres.dsn
    a = _start(fleet_broker, dsn, "fleet-solo", tmp_path / "a.log", ("--group", ""))
    device = RealDevice(tmp_path / "state", "hall-4", fleet_broker.port)
    try:
        assert device.mqtt.wait_connected(10)
        device.close_window(time.time() - 1.0)
        wait_until(lambda: _stored(dsn) == 1, 30, "live window stored")
        a.stop()  # the collector is away (its session persists)
        fleet_broker.stop()
        for _ in range(3):
            device.close_window(time.time() - 1.0)
        fleet_broker.start()
        wait_until(lambda: device.outbox.depth == 0, 30, "device replayed to the broker")
        a.start()
        wait_until(lambda: _stored(dsn) == 4, 60, "windows queued for the session stored")
    finally:
        device.close()
        a.stop()
    assert scalar(dsn, "SELECT count(*) FROM seq_gaps") == 0
