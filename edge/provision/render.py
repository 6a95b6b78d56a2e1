"""Render the first-boot files: cloud-init seed, config.txt fragment, cmdline.txt, firstrun.env.

Everything here is pure (text in, text out) and deterministic, so a second run with the same
inputs produces byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import shlex
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

# Where the Pi mounts the boot partition (Bookworm and Trixie) and where our payload goes on it.
BOOT_MOUNT = "/boot/firmware"
PAYLOAD_DIR = "edge"
FRAGMENT_BEGIN = "# >>> edge-emotion >>>"
FRAGMENT_END = "# <<< edge-emotion <<<"
FIRSTRUN_TOKENS = (
    f"systemd.run={BOOT_MOUNT}/firstrun.sh",
    "systemd.run_success_action=reboot",
    "systemd.unit=kernel-command-line.target",
)
ADMIN_GROUPS = "adm,dialout,audio,video,plugdev,users,input,netdev,gpio,i2c,spi,render,sudo"


@dataclass(frozen=True)
class Wifi:
    """A WPA2 network; ``psk`` is the derived 64-hex key, never the passphrase itself."""

    ssid: str
    psk: str
    country: str


@dataclass(frozen=True)
class Inputs:
    """Validated provisioning inputs."""

    hostname: str
    edge_config: str
    user: str = "pi"
    ssh_keys: tuple[str, ...] = ()
    wifi: Wifi | None = None
    timezone: str | None = None
    camera: str | None = None
    wheel_name: str | None = None


def wpa_psk(ssid: str, passphrase: str) -> str:
    """The WPA2 pre-shared key (PBKDF2-SHA1, 4096 rounds), as wpa_passphrase computes it."""
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex()


def _dump(data: Any) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def payload_path(name: str) -> str:
    """Absolute path on the running Pi of a payload file ``edge/<name>``."""
    return f"{BOOT_MOUNT}/{PAYLOAD_DIR}/{name}"


def install_command(inputs: Inputs) -> list[str]:
    """The first-boot command that installs the project and enables the service."""
    command = ["/bin/bash", payload_path("install.sh")]
    if inputs.wheel_name:
        command += ["--wheel", payload_path(inputs.wheel_name)]
    return command


def user_data(inputs: Inputs) -> str:
    """cloud-init user-data: hostname, admin user, edge.yaml, install, service enabled."""
    user: dict[str, Any] = {
        "name": inputs.user,
        "groups": ADMIN_GROUPS,
        "shell": "/bin/bash",
        "lock_passwd": True,
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
    }
    if inputs.ssh_keys:
        user["ssh_authorized_keys"] = list(inputs.ssh_keys)
    runcmd = [shlex.join(["rm", "-f", payload_path("firstrun.env")])]
    if inputs.ssh_keys:
        runcmd.append("systemctl enable --now ssh")
    runcmd.append(shlex.join(install_command(inputs)))
    doc: dict[str, Any] = {
        "hostname": inputs.hostname,
        "preserve_hostname": False,
        "manage_etc_hosts": True,
        "users": [user],
        "ssh_pwauth": False,
    }
    if inputs.timezone:
        doc["timezone"] = inputs.timezone
    doc["write_files"] = [
        {
            "path": "/etc/edge/edge.yaml",
            "permissions": "0640",
            "owner": "root:root",
            "content": LiteralScalarString(inputs.edge_config.rstrip("\n") + "\n"),
        }
    ]
    doc["runcmd"] = runcmd
    return "#cloud-config\n# Written by `edge provision`; see docs/deploy.md.\n" + _dump(doc)


def network_config(inputs: Inputs) -> str:
    """cloud-init network-config (netplan v2): DHCP on Ethernet, plus Wi-Fi when given."""
    network: dict[str, Any] = {
        "version": 2,
        "renderer": "NetworkManager",
        "ethernets": {"eth0": {"dhcp4": True, "optional": True}},
    }
    if inputs.wifi:
        network["wifis"] = {
            "wlan0": {
                "dhcp4": True,
                "optional": True,
                "regulatory-domain": inputs.wifi.country,
                "access-points": {inputs.wifi.ssid: {"password": inputs.wifi.psk}},
            }
        }
    return "# Written by `edge provision`.\n" + _dump({"network": network})


def instance_id(inputs: Inputs, user_data_text: str, network_text: str) -> str:
    """A stable cloud-init instance id: changes exactly when the rendered seed changes."""
    digest = hashlib.sha256((user_data_text + "\0" + network_text).encode()).hexdigest()
    return f"edge-{inputs.hostname}-{digest[:12]}"


def meta_data(inputs: Inputs, iid: str) -> str:
    """cloud-init meta-data."""
    return _dump({"instance-id": iid, "local-hostname": inputs.hostname})


def config_fragment(template: str, camera: str | None) -> str:
    """Our config.txt block: auto-detected camera, or ``camera_auto_detect=0`` + overlay."""
    text = template if template.endswith("\n") else template + "\n"
    if camera:
        text = text.replace(
            "camera_auto_detect=1\n", f"camera_auto_detect=0\ndtoverlay={camera}\n", 1
        )
    return text


def merge_config_txt(existing: str, fragment: str) -> str:
    """Append ``fragment`` once; on later runs replace our previous block in place."""
    begin = existing.find(FRAGMENT_BEGIN)
    end = existing.find(FRAGMENT_END, begin) if begin >= 0 else -1
    if begin >= 0 and end >= 0:
        line_end = existing.find("\n", end)
        tail = existing[line_end + 1 :] if line_end >= 0 else ""
        return existing[:begin] + fragment + tail
    if existing and not existing.endswith("\n"):
        existing += "\n"
    return existing + fragment


def merge_cmdline(existing: str, iid: str, country: str | None) -> str:
    """cmdline.txt kept on one line: ds=nocloud (once), the firstrun hook, the Wi-Fi domain."""
    lines = [line for line in existing.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ValueError(f"cmdline.txt must hold exactly one line, it holds {len(lines)}")
    ours = ("ds=nocloud", "systemd.run", "systemd.unit=", "cfg80211.ieee80211_regdom=")
    tokens = [t for t in lines[0].split() if not t.startswith(ours)]
    tokens.append(f"ds=nocloud;i={iid}")
    tokens.extend(FIRSTRUN_TOKENS)
    if country:
        tokens.append(f"cfg80211.ieee80211_regdom={country}")
    return " ".join(tokens) + "\n"


def firstrun_env(inputs: Inputs) -> str:
    """Shell assignments read by firstrun.sh (the Bookworm path, where there is no cloud-init)."""
    values = {
        "EDGE_HOSTNAME": inputs.hostname,
        "EDGE_USER": inputs.user,
        "EDGE_SSH_KEYS": "\n".join(inputs.ssh_keys),
        "EDGE_TIMEZONE": inputs.timezone or "",
        "EDGE_WIFI_SSID": inputs.wifi.ssid if inputs.wifi else "",
        "EDGE_WIFI_PSK": inputs.wifi.psk if inputs.wifi else "",
        "EDGE_WIFI_COUNTRY": inputs.wifi.country if inputs.wifi else "",
        "EDGE_INSTALL_CMD": shlex.join(install_command(inputs)),
    }
    body = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    return "# Written by `edge provision`; read and deleted by firstrun.sh.\n" + body
