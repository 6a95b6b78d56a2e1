"""Entry point of the ``edge`` command: parse arguments, run a verb, return its exit status."""

from __future__ import annotations

import os
import sys

#: OpenCV's and FFmpeg's own stderr lines (two per failed reopen of a dead stream, forever)
#: are silenced; the service logs each camera state change once instead. Set either variable
#: in the environment to see them again.
NATIVE_LOG_DEFAULTS = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


def main() -> int:
    for key, value in NATIVE_LOG_DEFAULTS.items():
        os.environ.setdefault(key, value)  # before cv2 is imported
    from edge.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
