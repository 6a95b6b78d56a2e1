"""`edge provision`: prepare a flashed Raspberry Pi OS card or image for unattended first boot."""

from __future__ import annotations

from edge.provision.cli import add_arguments, run

__all__ = ["add_arguments", "run"]
