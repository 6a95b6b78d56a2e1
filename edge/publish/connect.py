"""Everything needed to open the MQTT connection: credentials, TLS, protocol, backoff.

Files named in the config (TLS certificates, password file) are checked here, when the
service starts, with an error that names the config key; config validation does no I/O.
The password is read into memory only: it never appears in a log line or an error message.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import MqttConfig
from edge.publish.topics import STATUS_OFFLINE, Topics

#: systemd ``LoadCredential=`` name of the password (see systemd/edge.service).
CREDENTIAL_NAME = "mqtt_password"
#: Window messages paho may hold at once; the outbox is the real buffer.
MAX_INFLIGHT = 20
#: paho's own queue (windows in flight plus status, state, telemetry, discovery).
MAX_QUEUED_MESSAGES = 100


#: Why qos 2 is refused, without the key (the pre-flight puts it at the key path itself).
QOS2_REASON = (
    "2 is not supported: exactly-once would need the packet ids of windows in flight "
    "to survive a restart, which the MQTT client cannot restore, so it would quietly be "
    "at-least-once. Use qos: 1 (at-least-once; de-duplicate by seq, which is unique per window)"
)
QOS2_REFUSED = f"mqtt.qos: {QOS2_REASON}"


class MqttSetupError(RuntimeError):
    """A file the MQTT settings name is missing or unreadable; the message names the key."""


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Connection counters of :class:`edge.publish.mqtt.MqttPublisher`."""

    connected: bool
    reconnects: int
    attempts: int
    outbox_depth: int


LinkPhase = Literal["down", "handshake", "up"]


@dataclass(frozen=True, slots=True)
class Link:
    """The publisher's connection in one value, replaced whole under its lock: ``phase``
    (``down``: no socket; ``handshake``: TCP up, CONNACK awaited; ``up``: connected) and
    what the last log line said about it (``label``: new, connected, unreachable, refused,
    disconnected; ``detail``: the setting to check)."""

    phase: LinkPhase = "down"
    label: str = "new"
    detail: str = ""

    @property
    def connected(self) -> bool:
        return self.phase == "up"

    @property
    def down(self) -> bool:
        return self.phase == "down"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never show the password, even in a debugger or traceback
        shown = "***" if self.password else None
        return f"Credentials(username={self.username!r}, password={shown})"


class Backoff:
    """Exponential backoff with jitter: the n-th delay is drawn uniformly from
    ``[d/2, d]`` with ``d = min(maximum, initial * 2**n)``. Pure: ``rand`` is injected."""

    def __init__(
        self, initial_s: float, maximum_s: float, rand: Callable[[], float] = random.random
    ) -> None:
        self._initial = initial_s
        self._maximum = maximum_s
        self._rand = rand
        self._failures = 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * 2.0 ** min(self._failures, 32))
        self._failures += 1
        return ceiling * (0.5 + 0.5 * self._rand())

    def reset(self) -> None:
        self._failures = 0


def _readable(path: Path, key: str) -> Path:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise MqttSetupError(
            f"{key}: cannot read {path} ({exc.strerror or exc}); fix the path in the config or "
            "the file's permissions"
        ) from None
    return path


def load_credentials(config: MqttConfig, env: Mapping[str, str]) -> Credentials:
    """Username from the config; password from ``mqtt.password_file``, else from
    ``$CREDENTIALS_DIRECTORY/mqtt_password`` when present. An empty file means no password."""
    password_path: Path | None = None
    key = "mqtt.password_file"
    if config.password_file is not None:
        password_path = _readable(config.password_file, key)
    elif env.get("CREDENTIALS_DIRECTORY"):
        candidate = Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
        if candidate.exists():
            key = f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}"
            password_path = _readable(candidate, key)
    password: str | None = None
    if password_path is not None:
        try:
            text = password_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MqttSetupError(
                f"{key}: cannot read {password_path} ({type(exc).__name__})"
            ) from None
        password = text.splitlines()[0] if text.strip() else None
    if password is not None and config.username is None:
        raise MqttSetupError(
            f"{key} holds a password but mqtt.username is not set; set the user name, or empty "
            "the file if the broker needs no password"
        )
    return Credentials(config.username, password)


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    """The client TLS context (None without TLS); files are checked with key-naming errors."""
    tls = config.tls
    if not tls.enabled:
        return None
    ca = str(_readable(tls.ca_file, "mqtt.tls.ca_file")) if tls.ca_file else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except (ssl.SSLError, OSError) as exc:
        raise MqttSetupError(
            f"mqtt.tls.ca_file: {ca} is not a PEM CA bundle ({exc}); give the CA certificate "
            "that signed the broker's certificate"
        ) from None
    if tls.cert_file is not None and tls.key_file is not None:
        cert = _readable(tls.cert_file, "mqtt.tls.cert_file")
        key = _readable(tls.key_file, "mqtt.tls.key_file")
        try:
            context.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError) as exc:
            raise MqttSetupError(
                f"mqtt.tls.cert_file/key_file: {cert} and {key} are not a matching PEM "
                f"certificate and key ({exc})"
            ) from None
    context.check_hostname = not tls.insecure
    return context


def build_client(
    config: MqttConfig, topics: Topics, env: Mapping[str, str], context: ssl.SSLContext | None
) -> mqtt.Client:
    """A configured paho client (not connected): protocol, stable id, last will, TLS, login,
    bounded in-flight window and queue. ``context`` is the one TLS context of the publisher
    (:func:`tls_context`, built once at start), None without TLS."""
    credentials = load_credentials(config, env)
    client_id = config.client_id or f"edge-{topics.device_id}"
    protocol = mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311
    kwargs: dict[str, Any] = {"client_id": client_id, "protocol": protocol}
    if protocol == mqtt.MQTTv311:
        kwargs["clean_session"] = True
    client = mqtt.Client(CallbackAPIVersion.VERSION2, **kwargs)
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
    client.connect_timeout = config.connect_timeout_s
    client.will_set(topics.status, STATUS_OFFLINE, qos=1, retain=True)
    if context is not None:
        client.tls_set_context(context)
        client.tls_insecure_set(config.tls.insecure)
    if credentials.username is not None:
        client.username_pw_set(credentials.username, credentials.password)
    return client


def describe_connect_error(exc: BaseException, config: MqttConfig) -> str:
    """One line that says what failed and which setting to check (no secrets)."""
    where = f"{config.host}:{config.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate of {where} rejected: {exc.verify_message or exc.reason}; check "
            "mqtt.tls.ca_file (the CA that signed the broker) and that mqtt.host is a name in "
            "the broker's certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS handshake with {where} failed ({exc.reason or exc}); check mqtt.tls.* and "
            f"mqtt.port{_listener_hint(exc, config)}"
        )
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {config.host} ({exc.strerror}); check mqtt.host and DNS"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {where} within {config.connect_timeout_s:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection (no broker listening); check mqtt.host/port"
    if isinstance(exc, OSError):
        return f"cannot reach {where} ({exc.strerror or exc}){_listener_hint(exc, config)}"
    return f"cannot connect to {where} ({type(exc).__name__}: {exc})"


#: What a TLS handshake meets at a plain MQTT port (and plain MQTT at a TLS port): the
#: peer reads garbage and drops the connection.
_DROPPED_HANDSHAKE = frozenset(
    {"WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE"}
)


def _listener_hint(exc: BaseException, config: MqttConfig) -> str:
    """For a connection the broker dropped at once: whether TLS and the port's listener
    disagree (the usual cause of 'Connection reset by peer' here)."""
    dropped = isinstance(
        exc, ConnectionResetError | BrokenPipeError | ssl.SSLEOFError | ssl.SSLZeroReturnError
    ) or (isinstance(exc, ssl.SSLError) and exc.reason in _DROPPED_HANDSHAKE)
    if not dropped:
        return ""
    if config.tls.enabled:
        return (
            f"; mqtt.tls is enabled: is port {config.port} a TLS listener? (a plain MQTT port, "
            "usually 1883, drops a TLS handshake; TLS listeners are usually on 8883)"
        )
    return f"; if port {config.port} is a TLS listener (usually 8883), enable mqtt.tls"


def describe_no_connack(config: MqttConfig) -> str:
    """A peer that accepted TCP but never answered CONNECT (a black hole, not a broker)."""
    return (
        f"{config.host}:{config.port} accepted TCP but sent no CONNACK within "
        f"{config.connect_timeout_s:g} s; check that mqtt.host/port name an MQTT broker (not "
        "another service, a proxy or a firewall that swallows packets)"
    )


def describe_refusal(reason: Any) -> str:
    """The broker's CONNACK refusal, with the setting to check."""
    text = str(reason)
    lowered = text.lower()
    if "not authori" in lowered or "bad user" in lowered or "password" in lowered:
        return (
            f"broker refused the login ({text}); check mqtt.username and the password file "
            f"(mqtt.password_file or $CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME})"
        )
    if "identifier" in lowered:
        return f"broker rejected the client id ({text}); check mqtt.client_id"
    return f"broker refused the connection ({text})"


def environment() -> Mapping[str, str]:
    return os.environ


def wait_published(info: mqtt.MQTTMessageInfo, timeout_s: float) -> None:
    """Wait at most ``timeout_s`` for one message to be sent (and acknowledged at QoS >= 1)."""
    try:
        info.wait_for_publish(timeout=timeout_s)
    except (RuntimeError, ValueError) as exc:
        logging.getLogger("edge.publish.mqtt").warning("MQTT message not confirmed: %s", exc)
