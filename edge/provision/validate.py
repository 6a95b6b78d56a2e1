"""Validation of `edge provision` inputs; every failure names the flag or file and the fix."""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zipfile
import zoneinfo
from pathlib import Path

from edge.provision.errors import InvalidInputError

# ISO 3166-1 alpha-2 codes (the Wi-Fi regulatory domain, as raspi-config expects them).
COUNTRY_CODES = frozenset(
    re.findall(
        r"[A-Z]{2}",
        """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """,
    )
)

# Camera sensors with a dtoverlay of the same name in Raspberry Pi OS firmware.
CAMERA_SENSORS = frozenset(
    {"imx219", "imx296", "imx290", "imx327", "imx378", "imx462", "imx477", "imx500", "imx519",
     "imx708", "ov5647", "ov7251", "ov9281", "ov64a40", "arducam-pivariety", "arducam_64mp"}
)  # fmt: skip

SSH_KEY_TYPES = frozenset(
    {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
)  # fmt: skip

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_RESERVED_USERS = frozenset({"root", "edge", "daemon", "bin", "sys", "nobody", "systemd-network"})
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
_OVERLAY_PARAM = re.compile(r"^[a-z0-9_-]+(=[a-z0-9_-]+)?$")
_WHEEL_NAME = re.compile(r"^edge_emotion-[^-]+-(py3|cp3\d+)-[^-]+-(any|linux_aarch64|\S*aarch64)")


def hostname(value: str) -> str:
    """A single RFC 1123 label: letters, digits, '-', 1-63 chars, not all digits."""
    name = value.strip().lower()
    if not _HOSTNAME.fullmatch(name) or name.isdigit():
        raise InvalidInputError(
            "--hostname",
            f"{value!r} is not a valid hostname: use 1-63 letters, digits or '-', "
            "not starting or ending with '-', no dots (e.g. edge-kitchen-01)",
        )
    return name


def username(value: str) -> str:
    """A Linux login name for the admin user (not root, not the service user 'edge')."""
    if not _USERNAME.fullmatch(value) or value in _RESERVED_USERS:
        raise InvalidInputError(
            "--user",
            f"{value!r} is not a usable login name: start with a lowercase letter or '_', then "
            "up to 31 of a-z 0-9 _ -; 'root' and 'edge' (the service user) are reserved",
        )
    return value


def country(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased."""
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise InvalidInputError(
            "--wifi-country",
            f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. GB, DE, US)",
        )
    return code


def timezone(value: str) -> str:
    """An IANA time zone name such as Europe/Berlin."""
    known = zoneinfo.available_timezones()
    if not _TIMEZONE.fullmatch(value) or (known and value not in known):
        raise InvalidInputError(
            "--timezone", f"{value!r} is not an IANA time zone name (e.g. Europe/London, UTC)"
        )
    return value


def camera(value: str) -> str:
    """A sensor overlay name, optionally with overlay parameters: imx708 or imx477,cam0."""
    name, *params = value.strip().split(",")
    if name not in CAMERA_SENSORS or not all(_OVERLAY_PARAM.fullmatch(p) for p in params):
        known = ", ".join(sorted(CAMERA_SENSORS))
        raise InvalidInputError(
            "--camera", f"{value!r} is not a known camera sensor overlay; use one of: {known}"
        )
    return value.strip()


def ssid(value: str) -> str:
    """A Wi-Fi network name: 1-32 bytes of UTF-8 without control characters."""
    if not 1 <= len(value.encode()) <= 32 or any(ord(c) < 32 for c in value):
        raise InvalidInputError(
            "--wifi-ssid", "the SSID must be 1-32 bytes without control characters"
        )
    return value


def read_text_file(path: Path, flag: str) -> str:
    """The UTF-8 text of ``path``, or InvalidInputError naming ``flag``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(flag, f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInputError(flag, f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise InvalidInputError(flag, f"{path}: not readable (check its permissions)") from None
    except UnicodeDecodeError:
        raise InvalidInputError(flag, f"{path}: is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInputError(flag, f"{path}: cannot be read ({exc.strerror})") from None


def wifi_password(path: Path) -> str:
    """The WPA2 passphrase in ``path`` (first line): 8-63 printable ASCII characters."""
    lines = read_text_file(path, "--wifi-password-file").splitlines()
    secret = lines[0] if lines else ""
    if not 8 <= len(secret) <= 63 or not all(32 <= ord(c) < 127 for c in secret):
        # Never echo the secret itself.
        raise InvalidInputError(
            "--wifi-password-file",
            f"{path}: the first line must be a WPA2 passphrase of 8-63 printable ASCII characters "
            f"(it has {len(secret)} characters)",
        )
    return secret


def _check_key_line(line: str, number: int, path: Path) -> None:
    fields = line.split()
    where = f"{path}, line {number}"
    if len(fields) < 2 or fields[0] not in SSH_KEY_TYPES:
        raise InvalidInputError(
            "--ssh-key",
            f"{where}: expected an OpenSSH public key 'TYPE BASE64 [comment]' with TYPE one of "
            f"{', '.join(sorted(SSH_KEY_TYPES))} (the .pub file, e.g. ~/.ssh/id_ed25519.pub)",
        )
    try:
        blob = base64.b64decode(fields[1], validate=True)
        (size,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + size].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise InvalidInputError("--ssh-key", f"{where}: the key data is not valid base64") from None
    if embedded != fields[0]:
        raise InvalidInputError(
            "--ssh-key", f"{where}: the key data says {embedded!r} but the line says {fields[0]!r}"
        )


def ssh_keys(path: Path) -> list[str]:
    """The public keys in ``path`` (authorized_keys format without options)."""
    text = read_text_file(path, "--ssh-key")
    if "PRIVATE KEY" in text:
        raise InvalidInputError(
            "--ssh-key", f"{path}: this is a PRIVATE key; pass the public key (the .pub file)"
        )
    keys: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            _check_key_line(line, number, path)
            keys.append(line)
    if not keys:
        raise InvalidInputError("--ssh-key", f"{path}: contains no public key")
    return keys


def wheel(path: Path) -> Path:
    """An edge-emotion wheel that can run on a 64-bit Raspberry Pi."""
    if not path.is_file():
        raise InvalidInputError(
            "--wheel", f"{path}: no such file (build one with: pip wheel . -w dist)"
        )
    if not _WHEEL_NAME.match(path.name) or not zipfile.is_zipfile(path):
        raise InvalidInputError(
            "--wheel",
            f"{path}: not an edge_emotion wheel for aarch64 or any platform "
            "(expected edge_emotion-VERSION-py3-none-any.whl)",
        )
    return path


def edge_config(path: Path) -> str:
    """The text of the edge config at ``path`` after edge.config accepts it."""
    text = read_text_file(path, "--edge-config")
    # Imported here, not at module level: pydantic is heavy and only this check needs it.
    from edge import config as edge_config_module

    try:
        edge_config_module.load(path)
    except edge_config_module.ConfigError as exc:
        raise InvalidInputError(
            "--edge-config", f"{path} is not a valid edge config:\n{exc}\nFix it, then re-run."
        ) from None
    return text
