"""Locate the static deployment files shipped with the project.

They are found in a source checkout (next to the ``edge`` package) or, for an installed wheel,
under ``<prefix>/share/edge-emotion/`` with the same relative layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.provision.errors import ProvisionError

INSTALL_SH = "scripts/install.sh"
UNIT = "systemd/edge.service"
FIRSTRUN_SH = "firmware_config/firstrun.sh"
WATCHDOG_CONF = "firmware_config/watchdog.conf"
CONFIG_TXT = "firmware_config/config.txt"
#: pip constraints per Raspberry Pi OS release, read by install.sh from constraints/ beside it.
CONSTRAINTS = ("scripts/constraints/bookworm.txt", "scripts/constraints/trixie.txt")


def roots() -> list[Path]:
    """Directories searched, in order."""
    return [Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / "edge-emotion"]


def find(relative: str) -> Path:
    """The path of a deployment file such as ``scripts/install.sh``."""
    for root in roots():
        candidate = root / relative
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(root) for root in roots())
    raise ProvisionError(
        f"deployment file {relative} not found (searched {searched}); "
        "run from a source checkout or reinstall the edge-emotion package"
    )


def read(relative: str) -> bytes:
    """The bytes of a deployment file."""
    return find(relative).read_bytes()
