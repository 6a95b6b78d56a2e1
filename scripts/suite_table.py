"""Side-by-side Markdown table of `edge eval --conditions ... --json` reports (issue 21).

Usage: python scripts/suite_table.py A.json B.json [...]
One row per condition and level; per report: top-1, macro-F1, ECE and the window share error
against the crowd votes (or the labels when the data has no votes). Used for the table in
docs/model-card.md ("Robustness suite").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _share(row: dict[str, Any]) -> str:
    err = row["share_error"]["votes"] or row["share_error"]["labels"]
    return "-" if err is None else f"{err['mean_l1']:.3f}"


def main(argv: list[str]) -> int:
    reports = [json.loads(Path(p).read_text()) for p in argv]
    if not reports:
        print(__doc__, file=sys.stderr)
        return 2
    models = [r["model"] for r in reports]
    head = "| condition | level | strength | " + " | ".join(
        f"{m}: top-1 / macro-F1 / ECE / share L1" for m in models
    )
    print(head + " |")
    print("|---|---|---|" + "---|" * len(models))
    tables = [{(x["condition"], x["level"]): x for x in r["robustness"]["rows"]} for r in reports]
    for key, row in tables[0].items():
        strength = "" if row["strength"] is None else f"{row['strength']:g} {row['unit']}"
        cells = []
        for table in tables:
            x = table.get(key)
            cells.append(
                "-" if x is None else
                f"{x['top1']:.3f} / {x['macro_f1']:.3f} / {x['ece']:.3f} / {_share(x)}"
            )  # fmt: skip
        print(f"| {key[0]} | {key[1]} | {strength} | " + " | ".join(cells) + " |")
    for r in reports:
        clean = r["robustness"]["rows"][0]["share_error"]
        ref = clean["votes"] or clean["labels"]
        s = r["robustness"].get("subtle") or {}
        print(
            f"\n{r['model']}: constant-guess share L1 {ref['prior_mean_l1']:.3f}; subtle set "
            f"{s.get('n', 0)} faces, crowd/model share on neutral "
            f"{s.get('crowd_neutral_share', 0):.3f}/{s.get('model_neutral_share', 0):.3f}, on "
            f"the expression {s.get('crowd_expression_share', 0):.3f}/"
            f"{s.get('model_expression_share', 0):.3f}, answered neutral "
            f"{s.get('answered_neutral', 0):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
