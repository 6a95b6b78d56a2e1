"""The example cloud-init seed in firmware_config/cloud-init/, rendered by the real renderer.

Those files are templates for writing a seed by hand (replace the CHANGE-ME values); a test keeps
them identical to what `edge provision` writes for :data:`EXAMPLE`. Regenerate them with::

    python -m edge.provision.examples firmware_config/cloud-init
"""

from __future__ import annotations

import sys
from pathlib import Path

from edge.provision import render

EXAMPLE_EDGE_CONFIG = """\
# Minimal edge config; see firmware_config/edge.yaml for every key.
mqtt:
  host: broker.local
camera:
  source: picamera2
"""

EXAMPLE = render.Inputs(
    hostname="edge-01",
    edge_config=EXAMPLE_EDGE_CONFIG,
    user="pi",
    ssh_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI-CHANGE-ME-your-public-key you@laptop",),
    wifi=render.Wifi(ssid="CHANGE-ME-ssid", psk="CHANGE-ME-64-hex-wpa-psk", country="GB"),
    timezone="Europe/London",
)


def render_examples() -> dict[str, str]:
    """File name -> text of the example seed."""
    user_data = render.user_data(EXAMPLE)
    network = render.network_config(EXAMPLE)
    iid = render.instance_id(EXAMPLE, user_data, network)
    return {
        "user-data": user_data,
        "meta-data": render.meta_data(EXAMPLE, iid),
        "network-config": network,
    }


def main(argv: list[str]) -> int:
    """Write the examples into the directory given as the only argument."""
    if len(argv) != 1:
        print("usage: python -m edge.provision.examples DIR", file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_examples().items():
        (target / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
