"""``python -m edge.provision``: the same as ``edge provision``."""

from __future__ import annotations

import argparse
import sys

from edge.provision.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and provision; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="edge provision",
        description="Write first-boot files (cloud-init seed, firstrun.sh, config.txt, "
        "cmdline.txt) onto a Raspberry Pi OS boot partition or image.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
