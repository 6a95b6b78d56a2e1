"""`edge provision`: write first-boot files onto a Raspberry Pi OS card or image.

Exit codes: 0 done (or nothing to change), 2 invalid input (the message names the flag or file
and the fix), 1 any other failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from edge.provision import assets, render, validate
from edge.provision.errors import InvalidInputError, ProvisionError
from edge.provision.target import BootTarget, DirTarget, ImageTarget

_LOG = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2


_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--hostname", {"required": True, "metavar": "NAME", "help": "the Pi's hostname"}),
    ("--edge-config", {"required": True, "type": Path, "metavar": "PATH",
                       "help": "edge config to install as /etc/edge/edge.yaml (validated first)"}),
    ("--wifi-ssid", {"metavar": "S", "help": "Wi-Fi network name (WPA2)"}),
    ("--wifi-password-file", {"type": Path, "metavar": "F",
                              "help": "file whose first line is the Wi-Fi passphrase (never "
                                      "printed; only the derived WPA2 key reaches the card)"}),
    ("--wifi-country", {"metavar": "CC", "help": "ISO 3166-1 alpha-2 regulatory domain, e.g. GB"}),
    ("--ssh-key", {"type": Path, "metavar": "FILE",
                   "help": "OpenSSH public key file for the admin user"}),
    ("--user", {"default": "pi", "metavar": "NAME",
                "help": "admin login user, password locked (default: pi)"}),
    ("--timezone", {"metavar": "TZ", "help": "IANA time zone, e.g. Europe/London"}),
    ("--camera", {"metavar": "SENSOR",
                  "help": "camera sensor overlay (e.g. imx708); default: auto-detect"}),
    ("--wheel", {"type": Path, "metavar": "FILE",
                 "help": "edge-emotion wheel copied to the card and installed from there"}),
    ("--force", {"action": "store_true",
                 "help": "replace an existing, different cloud-init user-data"}),
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `edge provision` flags on ``parser``."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--boot-dir",
        type=Path,
        metavar="DIR",
        help="mounted boot partition of a freshly flashed card (bootfs)",
    )
    where.add_argument(
        "--image",
        type=Path,
        metavar="FILE.img",
        help="uncompressed Raspberry Pi OS image; edited in place with mtools, no root needed",
    )
    for flag, options in _FLAGS:
        parser.add_argument(flag, **options)


def _wifi(args: argparse.Namespace) -> render.Wifi | None:
    given = {
        "--wifi-ssid": args.wifi_ssid,
        "--wifi-password-file": args.wifi_password_file,
        "--wifi-country": args.wifi_country,
    }
    if not any(value is not None for value in given.values()):
        return None
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise InvalidInputError(
            missing[0],
            "--wifi-ssid, --wifi-password-file and --wifi-country go together; "
            f"add {' and '.join(missing)}",
        )
    ssid = validate.ssid(args.wifi_ssid)
    country = validate.country(args.wifi_country)
    passphrase = validate.wifi_password(args.wifi_password_file)
    return render.Wifi(ssid=ssid, psk=render.wpa_psk(ssid, passphrase), country=country)


def _inputs(args: argparse.Namespace) -> render.Inputs:
    """Validate every flag (cheap checks first, the edge config last)."""
    hostname = validate.hostname(args.hostname)
    user = validate.username(args.user)
    wifi = _wifi(args)
    keys = tuple(validate.ssh_keys(args.ssh_key)) if args.ssh_key else ()
    timezone = validate.timezone(args.timezone) if args.timezone else None
    camera = validate.camera(args.camera) if args.camera else None
    wheel = validate.wheel(args.wheel).name if args.wheel else None
    return render.Inputs(
        hostname=hostname,
        edge_config=validate.edge_config(args.edge_config),
        user=user,
        ssh_keys=keys,
        wifi=wifi,
        timezone=timezone,
        camera=camera,
        wheel_name=wheel,
    )


def _open_target(args: argparse.Namespace) -> BootTarget:
    if args.image is not None:
        return ImageTarget(args.image)
    return DirTarget(args.boot_dir)


def _existing_text(target: BootTarget, name: str) -> str:
    data = target.read(name)
    return "" if data is None else data.decode("utf-8", errors="surrogateescape")


def plan(target: BootTarget, inputs: render.Inputs, wheel: Path | None) -> dict[str, bytes]:
    """Every file to write, in write order: payload first, the cmdline.txt switch last."""
    files: dict[str, bytes] = {
        "edge/install.sh": assets.read(assets.INSTALL_SH),
        "edge/edge.service": assets.read(assets.UNIT),
        "edge/watchdog.conf": assets.read(assets.WATCHDOG_CONF),
        "edge/edge.yaml": inputs.edge_config.encode(),
        "edge/firstrun.env": render.firstrun_env(inputs).encode(),
        "firstrun.sh": assets.read(assets.FIRSTRUN_SH),
    }
    for constraints in assets.CONSTRAINTS:  # install.sh pins per release from constraints/
        files[f"edge/constraints/{Path(constraints).name}"] = assets.read(constraints)
    if wheel is not None:
        files[f"edge/{wheel.name}"] = wheel.read_bytes()
    user_data = render.user_data(inputs)
    network = render.network_config(inputs)
    iid = render.instance_id(inputs, user_data, network)
    files["meta-data"] = render.meta_data(inputs, iid).encode()
    files["network-config"] = network.encode()
    files["user-data"] = user_data.encode()
    template = assets.read(assets.CONFIG_TXT).decode()
    fragment = render.config_fragment(template, inputs.camera)
    config_txt = render.merge_config_txt(_existing_text(target, "config.txt"), fragment)
    files["config.txt"] = config_txt.encode("utf-8", errors="surrogateescape")
    country = inputs.wifi.country if inputs.wifi else None
    try:
        cmdline = render.merge_cmdline(_existing_text(target, "cmdline.txt"), iid, country)
    except ValueError as exc:
        raise InvalidInputError(
            "cmdline.txt", f"{exc}; restore the image's original file"
        ) from None
    files["cmdline.txt"] = cmdline.encode("utf-8", errors="surrogateescape")
    return files


def _is_blank_cloud_config(data: bytes) -> bool:
    """True for a user-data holding only comments and blank lines (nothing to lose)."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)


def _check_user_data(target: BootTarget, new: bytes, force: bool) -> None:
    existing = target.read("user-data")
    if existing is None or existing == new or force or _is_blank_cloud_config(existing):
        return
    raise InvalidInputError(
        "--force",
        f"{target.description} already has a different cloud-init user-data; it was left "
        "untouched (nothing was written). Re-run with --force to replace it",
    )


def apply(target: BootTarget, files: dict[str, bytes]) -> list[tuple[str, bool]]:
    """Write the files that differ; returns (name, written) in order."""
    results = []
    for name, data in files.items():
        changed = target.read(name) != data
        if changed:
            target.write(name, data)
        results.append((name, changed))
    return results


def run(args: argparse.Namespace) -> int:
    """Provision the card or image described by ``args``; returns the exit code."""
    try:
        inputs = _inputs(args)
        target = _open_target(args)
        files = plan(target, inputs, args.wheel)
        _check_user_data(target, files["user-data"], args.force)
        results = apply(target, files)
    except InvalidInputError as exc:
        print(f"edge provision: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ProvisionError as exc:
        print(f"edge provision: failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"Provisioned {inputs.hostname} on {target.description}:")
    for name, written in results:
        print(f"  {'wrote    ' if written else 'unchanged'} {name}")
    print("Insert the card and power the Pi on; first boot installs edge (see docs/deploy.md).")
    return EXIT_OK
