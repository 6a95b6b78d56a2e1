"""Entry point of the ``edge`` command: parse arguments, run a verb, return its exit status."""

from __future__ import annotations

import sys


def main() -> int:
    from edge.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
