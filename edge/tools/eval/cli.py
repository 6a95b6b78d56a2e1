"""`edge eval DATA`: accuracy, macro-F1, per-class scores, confusion, calibration, group gaps.

Runs the expression classifier (with the manifest's temperature) on labelled face crops and
prints a Markdown report, or JSON with ``--json``. ``--groups`` adds the same metrics per group
and the largest gap between groups: a bias audit to run on your own labelled data.
``--conditions`` adds the robustness suite (``edge/tools/eval/suite.py``): the same metrics and
the window share error on the faces degraded by each condition and level.
Exit status: 0 done, 2 unusable input (the message names the file, line and fix), 1 other
failures (model files).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from edge.cli.flags import config_number, number

#: The condition families of edge/tools/eval/conditions.py (kept literal so that `edge --help`
#: does not import OpenCV; a unit test checks it against conditions.FAMILIES).
FAMILY_NAMES = (
    "gaussian_blur", "motion_blur", "resolution", "noise", "jpeg", "h264", "low_light",
    "backlight", "occlusion_band", "occlusion_block", "occlusion_mask", "occlusion_sunglasses",
    "crop_jitter",
)  # fmt: skip
EXIT_OK = 0
EXIT_INVALID = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `edge eval` arguments on ``parser``."""
    parser.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help=".npz with images/labels/label_names, or a folder with one subfolder per label",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="write a confusion matrix and a reliability diagram (needs edge-emotion[plot])",
    )
    parser.add_argument(
        "--groups",
        type=Path,
        metavar="FILE.csv",
        help="CSV 'key,group' (key: row index for .npz, label/file for folders): "
        "metrics per group and the largest gap",
    )
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        metavar="PATH",
        help="config file whose models.dir, classifier.model and classifier.flip_tta apply "
        "(default: built-in defaults); e.g. to evaluate a model in your own models folder",
    )
    parser.add_argument("--model", metavar="ID", help="classifier id in the manifest "
                        "(default: the configured classifier)")  # fmt: skip
    parser.add_argument(
        "--temperature",
        type=number(float, gt=0),
        metavar="T",
        help="override the manifest's temperatures, the per-face quality temperature included, "
        "with this one (e.g. 1 to see the uncalibrated model); also sets the share temperature "
        "factor to 1 unless --share-factor is given",
    )
    parser.add_argument(
        "--share-factor",
        type=number(float, ge=0.25, le=10),
        metavar="F",
        help="override the manifest's share_temperature_factor (window shares use each face's "
        "probabilities at F times its temperature; 1 = the probabilities themselves), 0.25 to 10",
    )
    parser.add_argument(
        "--threads",
        type=config_number("classifier.threads"),
        default=1,
        help="classifier threads, 1 to 8 (default 1)",
    )
    parser.add_argument(
        "--flip-tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average each face with its mirror image (default: classifier.flip_tta's default)",
    )
    parser.add_argument(
        "--conditions",
        metavar="SPEC",
        help="robustness suite: 'all', 'clean' (share error only) or NAME[:LEVEL],... "
        f"(NAME: {', '.join(FAMILY_NAMES)}; LEVEL: mild, moderate, severe; a bare NAME runs all "
        "three); reports top-1, macro-F1, ECE and the window share error per condition",
    )
    parser.add_argument(
        "--window-faces",
        type=number(int, ge=1, le=10_000),
        default=20,
        metavar="N",
        help="faces per synthetic window for the share error (default 20)",
    )
    parser.add_argument(
        "--windows",
        type=number(int, ge=1, le=1_000_000),
        default=500,
        metavar="N",
        help="synthetic windows per condition (default 500)",
    )
    parser.add_argument(
        "--seed",
        type=number(int, ge=0),
        default=21,
        help="seed of the windows, degradations and --limit",
    )
    parser.add_argument(
        "--limit",
        type=number(int, ge=1),
        metavar="N",
        help="evaluate N samples drawn at random (--seed) instead of all",
    )


def _fail(message: str) -> int:
    print(f"edge eval: {message}", file=sys.stderr)
    return EXIT_INVALID


def _check_flags(args: argparse.Namespace) -> str | None:
    if args.plot is not None:
        if importlib.util.find_spec("matplotlib") is None:
            return "--plot needs matplotlib: pip install 'edge-emotion[plot]'"
        if not args.plot.parent.is_dir():
            return f"--plot {args.plot}: folder {args.plot.parent} does not exist"
    if args.groups is not None and not args.groups.is_file():
        return f"--groups {args.groups}: no such file; pass a CSV with the header 'key,group'"
    if args.conditions is not None and args.conditions.strip() != "clean":
        from edge.tools.eval.conditions import parse_conditions

        try:
            parse_conditions(args.conditions)
        except ValueError as exc:
            return f"--conditions {args.conditions!r}: {exc}"
    return None


def run(args: argparse.Namespace) -> int:
    """Evaluate the classifier on ``args.data``; print the report."""
    problem = _check_flags(args)
    if problem:
        return _fail(problem)

    import numpy as np

    from edge.config import Config, ConfigError, load
    from edge.inference.classifier import ExpressionClassifier
    from edge.inference.models import ModelError, bundled_models_dir, get_spec
    from edge.tools.eval.data import DataError, load_dataset, load_groups, subset
    from edge.tools.eval.report import group_summaries, summarize, vote_summary

    try:
        config = load(args.config) if args.config is not None else Config()
    except ConfigError as exc:
        return _fail(f"--config: {exc}")
    try:
        spec = get_spec(
            config.models.dir or bundled_models_dir(),
            args.model or config.classifier.model,
            "classifier",
        )
    except ModelError as exc:
        return _fail(f"--model: {exc}")
    if args.temperature is not None:
        spec = spec.with_temperature(args.temperature)
    try:
        dataset = load_dataset(args.data, spec.labels)
        if args.limit is not None:
            dataset = subset(dataset, args.limit, args.seed)
        groups = load_groups(args.groups, dataset) if args.groups else None
    except DataError as exc:
        return _fail(str(exc))
    flip_tta = config.classifier.flip_tta if args.flip_tta is None else args.flip_tta
    classifier = ExpressionClassifier(spec, threads=args.threads, margin=0.0, flip_tta=flip_tta)
    share_factor = classifier.share_factor if args.share_factor is None else args.share_factor
    probs = np.asarray([classifier.classify_crop(img) for img in dataset.images], np.float64)
    labelled = dataset.labels >= 0  # crowd labels: -1 where no label has a majority
    if not labelled.any():
        return _fail(f"{args.data}: no sample has a label (every majority is -1)")
    report: dict[str, Any] = {
        "data": str(args.data),
        "model": spec.short_id,
        "temperature": classifier.temperature,
        "flip_tta": flip_tta,
        "share_temperature_factor": share_factor,
        "temperature_quality": (
            None
            if classifier.temperature_quality is None
            else classifier.temperature_quality.describe()
        ),
        "overall": summarize(probs[labelled], dataset.labels[labelled], spec.labels),
    }
    if dataset.votes is not None:
        report["votes"] = vote_summary(probs, dataset.votes, dataset.labels)
    if groups is not None:
        kept = [g for g, keep in zip(groups, labelled, strict=True) if keep]
        report["groups"] = group_summaries(
            probs[labelled], dataset.labels[labelled], kept, spec.labels
        )
    if args.conditions is not None:
        report["robustness"] = _suite(
            args, classifier, dataset, spec.labels, probs, share_factor=share_factor
        )
    if args.plot is not None:
        from edge.tools.eval.plot import write_plot

        write_plot(args.plot, report["overall"], title=f"{spec.model_id} on {args.data.name}")
        print(f"edge eval: wrote {args.plot}", file=sys.stderr)
    print(_render(report, as_json=args.json), end="\n")
    return EXIT_OK


def _render(report: dict[str, Any], *, as_json: bool) -> str:
    """The report as JSON, or as Markdown with the robustness tables appended."""
    if as_json:
        return json.dumps(report, indent=2)
    from edge.tools.eval.report import to_markdown

    text = to_markdown(report)
    if "robustness" in report:
        from edge.tools.eval.suite import suite_markdown

        text += "\n".join(suite_markdown(report["robustness"])) + "\n"
    return text


def _suite(
    args: argparse.Namespace,
    classifier: Any,
    dataset: Any,
    labels: Any,
    probs: Any,
    *,
    share_factor: float,
) -> dict[str, Any]:
    """Run the robustness suite for ``--conditions`` (progress on stderr)."""
    import numpy as np

    from edge.tools.eval.conditions import parse_conditions
    from edge.tools.eval.suite import SuiteOptions, run_suite

    spec = args.conditions.strip()
    conditions = [] if spec == "clean" else parse_conditions(spec)
    options = SuiteOptions(
        conditions=conditions,
        input_size=classifier.input_size,
        window_faces=args.window_faces,
        windows=args.windows,
        seed=args.seed,
        share_factor=share_factor,
    )
    print(f"edge eval: robustness suite, {len(conditions)} conditions x {len(dataset)} faces",
          file=sys.stderr)  # fmt: skip

    def classify(faces: Any) -> Any:
        return np.asarray([classifier.classify_crop(img) for img in faces], np.float64)

    return run_suite(classify, dataset, labels, options, clean_probs=probs)
