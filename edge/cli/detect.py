"""``edge detect IMAGE...``: each face's box, score and expression estimates as JSON (local
debugging only; none of this is ever published)."""

from __future__ import annotations

import argparse
import json
import sys

from edge.cli.common import EXIT_OK, EXIT_USAGE, setup_logging
from edge.config import Config, load


def cmd_detect(args: argparse.Namespace) -> int:
    setup_logging(args.log_level or "WARNING")
    import cv2
    import numpy as np

    from edge.inference.analyzer import FaceAnalyzer
    from edge.types import EXPRESSIONS

    config = load(args.config) if args.config else Config()
    analyzer = FaceAnalyzer.from_config(config)
    status = EXIT_OK
    for path in args.images:
        bgr = cv2.imread(str(path))
        if bgr is None:
            print(
                f"{path}: cannot read as an image (missing file or unknown format)", file=sys.stderr
            )
            status = EXIT_USAGE
            continue
        faces = analyzer.analyze(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8))
        doc = {
            "image": str(path),
            "faces": [
                {
                    "box": [
                        round(v, 1)
                        for v in (
                            f.detection.box.x0,
                            f.detection.box.y0,
                            f.detection.box.x1,
                            f.detection.box.y1,
                        )
                    ],
                    "score": round(f.detection.score, 4),
                    "expressions": {
                        k: round(p, 4) for k, p in zip(EXPRESSIONS, f.probs, strict=True)
                    },
                }
                for f in faces
            ],
        }
        print(json.dumps(doc))
    return status
