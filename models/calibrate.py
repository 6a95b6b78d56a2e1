"""Fit the classifier's temperature on held-out *training* data and store it in the manifest.

Temperature scaling (Guo et al. 2017): one scalar ``T`` with ``p ∝ exp(log p / T)``, chosen to
minimise the negative log-likelihood on a calibration split. ``T`` changes confidence, never the
ranking of the classes, so top-1 and macro-F1 stay the same.

- Calibration split: a stratified ``--fraction`` (default 10 %) of ``train.npz`` drawn with
  ``--seed`` (default 1234). The draw is the same algorithm, seed and fraction as
  ``models/train/common.py::stratified_split``, so for a model trained by ``models/train`` the
  split is exactly the validation split the training run never fitted on. PublicTest is never
  used for fitting; it is only where ECE before/after is reported.
- Model outputs: the classifier's dequantized probabilities at ``T = 1``, clipped at ``1e-6``
  before the log -- the same transform :class:`edge.inference.classifier.ExpressionClassifier`
  applies at run time, so the fitted ``T`` is the one the runtime needs.

- ``--holdout ferplus`` (the FER+ vote models): the calibration faces are the FER+ training
  faces carved out by ``models/train/common.py::ferplus_holdout`` (the split their training never
  fitted on and ``export_ferplus.py`` fits on; 2,851 faces, FER+ majority labels). The selection
  set ``ferplus/valid.npz`` is never used.
- ``--mix mild,moderate`` (issue 21, calibration that holds off-domain): every calibration face
  is used twice, once clean and once under one degradation of ``edge/tools/eval/conditions.py``
  (the families ``edge eval --conditions`` scores), the (family, level) pairs dealt in turn over a
  seeded permutation of the faces, so each of the 13 families x given levels gets about the same
  number of faces. ``T`` is then the NLL fit on the clean + perturbed mix. Without ``--mix`` the
  fit is on clean faces only (the earlier behaviour).
- ``--quality``: the per-face quality temperature (``edge.inference.quality``), fitted on every
  calibration face clean and under every (family, level); see ``quality_fit.py``.
- ``--shares`` (with ``--holdout ferplus``): the share temperature factor of
  ``edge.aggregation.shares`` (window ``expressions`` use each face's probabilities at its
  temperature times this factor; ``confidence`` keeps the calibrated ones), chosen from a grid
  as the least mean window share error against the crowd's vote shares on the same faces and
  weights as ``--quality``. Run it after ``--quality``: it starts from the manifest's
  calibration.

Usage::

    python models/calibrate.py                      # default classifier; print, change nothing
    python models/calibrate.py --model ID --write   # also set temperature in manifest.toml
    python models/calibrate.py --model ID --flip-tta --write   # temperature_flip (TTA output)
    python models/calibrate.py --json               # machine-readable result
    python models/calibrate.py --model ID --holdout ferplus --mix mild,moderate [--flip-tta] --write
    python models/calibrate.py --model ID --holdout ferplus --quality [--flip-tta] --write
    python models/calibrate.py --model ID --holdout ferplus --shares [--flip-tta] --write

Deterministic: the same model, data, seed and fraction give the same ``T``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODELS_DIR.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "fer2013"
SEED = 1234
FRACTION = 0.1

sys.path.insert(0, str(REPO_ROOT))

from edge.config import Config  # noqa: E402
from edge.inference.classifier import ExpressionClassifier  # noqa: E402
from edge.inference.models import ModelSpec, get_spec  # noqa: E402
from edge.inference.quality import temperatures  # noqa: E402
from edge.tools.eval import metrics  # noqa: E402
from edge.tools.eval.conditions import FAMILIES, LEVELS  # noqa: E402
from edge.tools.eval.data import load_dataset  # noqa: E402
from edge.tools.eval.shares import window_indices  # noqa: E402

sys.path.insert(0, str(MODELS_DIR))
import quality_fit  # noqa: E402
from quality_fit import QualitySet, features_of  # noqa: E402


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the calibration split: ``round(n_c * fraction)`` of every class ``c``.

    Same draw as ``models/train/common.py::stratified_split`` (its validation part).
    """
    rng = np.random.default_rng(seed)
    parts = []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        parts.append(idx[: round(len(idx) * fraction)])
    return np.sort(np.concatenate(parts))


def ferplus_calibration_faces(
    fraction: float, seed: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The FER+ training faces held out by ``ferplus_holdout`` (kept by the vote rule, with a
    majority label), their majority labels and their vote shares over the model's 7 labels
    (``vote_targets``, as ``edge eval`` maps them): the split ``export_ferplus.py`` fits on."""
    sys.path.insert(0, str(MODELS_DIR / "train"))
    from common import carved_ferplus_faces

    images, majority, votes = carved_ferplus_faces(fraction, seed)
    return list(images), majority, np.asarray(votes, np.float64)


def perturbed_copies(
    images: list[np.ndarray], levels: list[str], seed: int
) -> tuple[list[np.ndarray], list[str]]:
    """One degraded copy of every face: the (family, level) pairs for ``levels`` dealt in turn
    over a permutation of the faces drawn with ``seed``; each face's degradation draws its own
    randomness from ``default_rng([seed, index])`` (deterministic)."""
    pairs = [(f, lv) for f in FAMILIES for lv in levels]
    order = np.random.default_rng(seed).permutation(len(images))
    out: list[np.ndarray] = [images[0]] * len(images)
    names: list[str] = [""] * len(images)
    for k, i in enumerate(order):
        family, level = pairs[k % len(pairs)]
        rng = np.random.default_rng([seed, int(i)])
        out[i] = FAMILIES[family].apply(np.asarray(images[i], np.uint8), level, rng)
        names[i] = f"{family}:{level}"
    return out, names


def raw_probs(spec: ModelSpec, images: list[np.ndarray], *, flip_tta: bool = False) -> np.ndarray:
    """The classifier's probabilities at ``T = 1``; with ``flip_tta`` the mean of each face's
    and its mirror image's outputs, as at run time."""
    classifier = ExpressionClassifier(
        spec.with_temperature(1.0), threads=1, margin=0.0, flip_tta=flip_tta
    )
    return np.asarray([classifier.classify_crop(img) for img in images], dtype=np.float64)


def raw_log_probs(
    spec: ModelSpec, images: list[np.ndarray], *, flip_tta: bool = False
) -> np.ndarray:
    """Log of :func:`raw_probs` (clipped like the runtime)."""
    return metrics.log_probs_from_probs(raw_probs(spec, images, flip_tta=flip_tta))


def scores(log_probs: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, float]:
    probs = metrics.apply_temperature(log_probs, temperature)
    return {
        "nll": round(metrics.nll(log_probs, labels, temperature), 4),
        "ece": round(metrics.expected_calibration_error(probs, labels, 15), 4),
        "mean_confidence": round(float(probs.max(axis=1).mean()), 4),
        "top1": round(float((probs.argmax(axis=1) == labels).mean()), 4),
    }


def write_temperature(
    manifest: Path, model_id: str, value: object, note: str, *, key: str = "temperature"
) -> None:
    """Replace the ``<key> = ...`` line of ``[models.<model_id>]``, nothing else; a missing
    line (``temperature_flip``, ``temperature_quality[_flip]``, whose value is a TOML table) is
    added after the section's last ``temperature...`` line."""
    text = manifest.read_text(encoding="utf-8")
    section = re.search(rf"^\[models\.{re.escape(model_id)}\]\n(?:(?!\[).*\n?)*", text, re.M)
    if section is None:
        raise SystemExit(f"{manifest}: no [models.{model_id}] section")
    line = f"{key} = {value}  # {note}"
    body, count = re.subn(rf"^{key} = [^\n]*$", line, section.group(0), flags=re.M)
    lines = body.split("\n")
    anchors = [
        i
        for i, ln in enumerate(lines)
        if ln.startswith(("temperature", "share_temperature_factor"))
    ]
    if count == 0 and key != "temperature" and anchors:
        lines.insert(anchors[-1] + 1, line)
        body, count = "\n".join(lines), 1
    if count != 1:
        raise SystemExit(f"{manifest}: [models.{model_id}] needs exactly one temperature line")
    manifest.write_text(text[: section.start()] + body + text[section.end() :], encoding="utf-8")


def parse_mix(spec: str | None) -> list[str]:
    """``--mix`` -> levels (``mild,moderate``); empty for clean-only calibration."""
    if not spec:
        return []
    levels = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        raise SystemExit(f"--mix {spec!r}: use comma-separated levels from {', '.join(LEVELS)}")
    return list(dict.fromkeys(levels))


def calibration_faces(args: argparse.Namespace, spec: ModelSpec) -> tuple[Any, Any, str]:
    """(images, labels, description) of the calibration split ``--holdout`` names."""
    if args.holdout == "ferplus":
        images, y_clean, _ = ferplus_calibration_faces(args.fraction, args.seed)
        where = "ferplus/train.npz faces held out by "
        where += f"ferplus_holdout({args.fraction:g}, seed {args.seed})"
    else:
        train = load_dataset(args.train, spec.labels)
        held = stratified_split(train.labels, args.fraction, args.seed)
        images, y_clean = [train.images[i] for i in held], train.labels[held]
        where = f"{args.train.name}: stratified {args.fraction:g} split, seed {args.seed}"
    return images, y_clean, where


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    spec = get_spec(args.models_dir, args.model, "classifier")
    if args.quality:
        return calibrate_quality(args, spec)
    if args.shares:
        return calibrate_shares(args, spec)
    levels = parse_mix(args.mix)
    images, y_clean, where = calibration_faces(args, spec)
    lp_clean = raw_log_probs(spec, images, flip_tta=args.flip_tta)
    lp_cal, y_cal = lp_clean, y_clean
    if levels:
        pert, _ = perturbed_copies(images, levels, args.seed)
        lp_pert = raw_log_probs(spec, pert, flip_tta=args.flip_tta)
        lp_cal = np.concatenate([lp_clean, lp_pert])
        y_cal = np.concatenate([y_clean, y_clean])
        where += f", each face clean + once perturbed ({'/'.join(levels)}, 13 families)"
    fitted = metrics.fit_temperature(lp_cal, y_cal)
    temperature = round(fitted, 3)  # more digits than the fit's precision would be noise
    result: dict[str, Any] = {
        "model": spec.short_id,
        "temperature": temperature,
        "fitted": round(fitted, 6),
        "previous_temperature": spec.temperature_flip if args.flip_tta else spec.temperature,
        "flip_tta": args.flip_tta,
        "fitted_on": f"{where}, n={len(y_cal)}",
        "calibration_split": {
            "before": scores(lp_cal, y_cal, 1.0),
            "after": scores(lp_cal, y_cal, temperature),
        },
    }
    if levels:
        result["calibration_split"]["clean_only_after"] = scores(lp_clean, y_clean, temperature)
        result["calibration_split"]["perturbed_only_after"] = scores(
            lp_cal[len(y_clean) :], y_clean, temperature
        )
    if args.report is not None and not args.no_report:
        test = load_dataset(args.report, spec.labels)
        lp_test = raw_log_probs(spec, test.images, flip_tta=args.flip_tta)
        result["report_set"] = {
            "data": args.report.name,
            "n": len(test),
            "before": scores(lp_test, test.labels, 1.0),
            "after": scores(lp_test, test.labels, temperature),
        }
    return result


def quality_set(
    spec: ModelSpec,
    images: list[np.ndarray],
    labels: np.ndarray,
    levels: list[str],
    *,
    flip_tta: bool,
    seed: int,
) -> QualitySet:
    """Every face clean (weight 13) and under every family at every level (weight 1 each);
    face i's degradation under (family, level) draws from ``default_rng([seed, f, l, i])``."""
    crops, conds, weights = list(images), ["clean:none"] * len(images), [13.0] * len(images)
    for f, family in enumerate(FAMILIES):
        for lv, level in enumerate(levels):
            for i, img in enumerate(images):
                rng = np.random.default_rng([seed, f, lv, i])
                crops.append(FAMILIES[family].apply(np.asarray(img, np.uint8), level, rng))
            conds += [f"{family}:{level}"] * len(images)
            weights += [1.0] * len(images)
    probs = raw_probs(spec, crops, flip_tta=flip_tta)
    stack = np.stack([np.asarray(c, np.uint8) for c in crops])
    return QualitySet(
        features=features_of(stack, probs),
        log_probs=metrics.log_probs_from_probs(probs),
        labels=np.tile(np.asarray(labels, np.int64), len(FAMILIES) * len(levels) + 1),
        weights=np.asarray(weights),
        conditions=np.asarray(conds),
    )


def calibrate_quality(args: argparse.Namespace, spec: ModelSpec) -> dict[str, Any]:
    """``--quality``: fit ``temperature_quality`` (or ``_flip``) and compare it per condition
    with the manifest's scalar temperature on the calibration split."""
    levels = parse_mix(args.mix) or list(LEVELS)
    images, labels, where = calibration_faces(args, spec)
    if any(np.asarray(img).shape != spec.input_shape[1:3] for img in images):
        raise SystemExit("--quality needs calibration faces of the model's input size")
    data = quality_set(spec, images, labels, levels, flip_tta=args.flip_tta, seed=args.seed)
    model = quality_fit.fit(data)
    scalar = (spec.temperature_flip or spec.temperature) if args.flip_tta else spec.temperature
    temps = temperatures(model, data.features[:, :2], np.exp(data.log_probs))
    per_condition: dict[str, Any] = {}
    for cond in dict.fromkeys(data.conditions.tolist()):
        m = data.conditions == cond
        lp, y = data.log_probs[m], data.labels[m]
        quality_p = metrics.apply_temperature(lp / temps[m][:, None], 1.0)
        per_condition[cond] = {
            "ece_scalar": round(metrics.expected_calibration_error(
                metrics.apply_temperature(lp, scalar), y, 15), 4),
            "ece_quality": round(metrics.expected_calibration_error(quality_p, y, 15), 4),
        }  # fmt: skip
    worst = max(per_condition.items(), key=lambda kv: kv[1]["ece_quality"])
    return {
        "model": spec.short_id,
        "flip_tta": args.flip_tta,
        "temperature_quality": model.describe(),
        "fitted_on": f"{where}, each face clean (weight 13) and under 13 families x "
        f"{'/'.join(levels)} (weight 1 each), n={len(data.labels)}",
        "scalar_temperature": scalar,
        "temperature_range": [round(float(temps.min()), 3), round(float(temps.max()), 3)],
        "calibration_split": per_condition,
        "worst": {"condition": worst[0], **worst[1]},
        "over_0.05": {
            "scalar": sum(v["ece_scalar"] > 0.05 for v in per_condition.values()),
            "quality": sum(v["ece_quality"] > 0.05 for v in per_condition.values()),
        },
    }


def calibrated_probs(spec: ModelSpec, data: QualitySet, *, flip_tta: bool) -> np.ndarray:
    """What the classifier returns for ``data``'s faces with the manifest's calibration: the
    quality table of the mode when there is one, else the mode's scalar temperature."""
    table = spec.temperature_quality_flip if flip_tta else spec.temperature_quality
    if table is not None:
        temps = temperatures(table, data.features[:, :2], np.exp(data.log_probs))
        return np.asarray(metrics.apply_temperature(data.log_probs / temps[:, None], 1.0))
    scalar = (spec.temperature_flip or spec.temperature) if flip_tta else spec.temperature
    return np.asarray(metrics.apply_temperature(data.log_probs, scalar))


def calibrate_shares(args: argparse.Namespace, spec: ModelSpec) -> dict[str, Any]:
    """``--shares``: the share temperature factor (``edge.aggregation.shares``) with the least
    window share error against the crowd's votes on the carved FER+ split, each face clean and
    under every (family, level), windows of ``--window-faces`` faces."""
    levels = parse_mix(args.mix) or list(LEVELS)
    images, labels, votes = ferplus_calibration_faces(args.fraction, args.seed)
    data = quality_set(spec, images, labels, levels, flip_tta=args.flip_tta, seed=args.seed)
    probs = calibrated_probs(spec, data, flip_tta=args.flip_tta)
    windows = window_indices(len(images), args.window_faces, 500, args.seed)
    reps = len(data.labels) // len(images)
    errors = quality_fit.share_factor_errors(probs, np.tile(votes, (reps, 1)), data.conditions,
                                             windows)  # fmt: skip
    factor, mean = quality_fit.fit_share_factor(errors)
    one_hot = np.eye(probs.shape[1])[labels]
    label_errors = quality_fit.share_factor_errors(
        probs, np.tile(one_hot, (reps, 1)), data.conditions, windows, (1.0, factor)
    )
    return {
        "model": spec.short_id,
        "flip_tta": args.flip_tta,
        "share_temperature_factor": factor,
        "fitted_on": f"ferplus/train.npz faces held out by ferplus_holdout({args.fraction:g}, "
        f"seed {args.seed}), each clean (weight 13) and under 13 families x {'/'.join(levels)} "
        f"(weight 1 each); 500 windows of {args.window_faces} faces; n={len(data.labels)}",
        "weighted_mean_share_l1": {str(f): round(v, 4) for f, v in mean.items()},
        "calibration_split": {
            cond: {
                "votes_at_1": round(errors[cond][1.0], 4),
                "votes_at_factor": round(errors[cond][factor], 4),
                "labels_at_1": round(label_errors[cond][1.0], 4),
                "labels_at_factor": round(label_errors[cond][factor], 4),
            }
            for cond in errors
        },
    }


def report_shares(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """Print (or write) the ``--shares`` result."""
    if args.write:
        key = "share_temperature_factor_flip" if args.flip_tta else "share_temperature_factor"
        note = f"models/calibrate.py --shares --holdout {args.holdout}"
        note += " --flip-tta" if args.flip_tta else ""
        note += f" --mix {args.mix}" if args.mix else ""
        note += f" --window-faces {args.window_faces}" if args.window_faces != 20 else ""
        note += ": least window share error against the crowd's votes"
        write_temperature(args.models_dir / "manifest.toml", args.model,
                          result["share_temperature_factor"], note, key=key)  # fmt: skip
        result["written"] = f"{key} in {args.models_dir / 'manifest.toml'}"
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    split = result["calibration_split"]
    clean = split["clean:none"]
    print(f"{result['model']}: share_temperature_factor = {result['share_temperature_factor']} "
          f"({result['fitted_on']})")  # fmt: skip
    print(f"  clean share L1 to votes {clean['votes_at_1']} -> {clean['votes_at_factor']}, "
          f"to majority labels {clean['labels_at_1']} -> {clean['labels_at_factor']}")  # fmt: skip
    if "written" in result:
        print(f"wrote {result['written']}")
    return 0


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Flag combinations the parser cannot express: exit 2 with the fix."""
    if args.quality and args.shares:
        parser.error("--quality and --shares are separate fits: run them one after the other")
    if args.shares and args.holdout != "ferplus":
        parser.error("--shares fits to the crowd's vote shares: add --holdout ferplus")
    if args.window_faces < 1:
        parser.error(f"--window-faces {args.window_faces}: must be >= 1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=Config().classifier.model, help="classifier id")
    parser.add_argument("--train", type=Path, default=DATA_DIR / "train.npz")
    parser.add_argument("--report", type=Path, default=DATA_DIR / "public_test.npz",
                        help="where ECE before/after is reported (never fitted on)")  # fmt: skip
    parser.add_argument("--no-report", action="store_true", help="skip the report set")
    parser.add_argument(
        "--holdout",
        choices=("fer2013", "ferplus"),
        default="fer2013",
        help="calibration faces: the FER2013 train split (default) or the FER+ carved split",
    )
    parser.add_argument(
        "--mix",
        default=None,
        metavar="LEVELS",
        help="also fit on one perturbed copy of every face at these levels (e.g. mild,moderate)",
    )
    parser.add_argument(
        "--models-dir", type=Path, default=MODELS_DIR, help="folder with manifest.toml"
    )
    parser.add_argument("--fraction", type=float, default=FRACTION)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--flip-tta",
        action="store_true",
        help="fit on the flip-TTA output (classifier.flip_tta) instead of one pass",
    )
    parser.add_argument(
        "--quality",
        action="store_true",
        help="fit the per-face quality temperature (edge.inference.quality) on every face "
        "clean and under every degradation at the --mix levels (default: all three)",
    )
    parser.add_argument(
        "--shares",
        action="store_true",
        help="fit share_temperature_factor (edge.aggregation.shares): the least window share "
        "error against the crowd's votes, faces clean and under every degradation "
        "(needs --holdout ferplus)",
    )
    parser.add_argument(
        "--window-faces", type=int, default=20, help="faces per window for --shares (20)"
    )
    parser.add_argument("--write", action="store_true", help="store T in manifest.toml")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    check_args(parser, args)
    result = calibrate(args)
    if args.quality:
        return report_quality(args, result)
    if args.shares:
        return report_shares(args, result)
    if args.write:
        if args.holdout == "ferplus" or args.mix:
            note = f"models/calibrate.py --holdout {args.holdout}"
            note += f" --mix {args.mix}" if args.mix else ""
            note += f": NLL fit on {result['fitted_on']}: {result['fitted']}"
        else:
            note = f"models/calibrate.py: NLL fit on a stratified {args.fraction:g} split of "
            note += f"{args.train.name}, seed {args.seed}: {result['fitted']}"
        if args.flip_tta:
            note += " (flip-TTA output)"
        key = "temperature_flip" if args.flip_tta else "temperature"
        write_temperature(
            args.models_dir / "manifest.toml", args.model, result["temperature"], note, key=key
        )
        result["written"] = str(args.models_dir / "manifest.toml")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['model']}: T = {result['temperature']} ({result['fitted_on']})")
    for name in ("calibration_split", "report_set"):
        if name in result:
            block = result[name]
            print(f"  {block.get('data', name)}: before {block['before']}")
            print(f"  {' ' * len(block.get('data', name))}  after  {block['after']}")
    if args.write:
        key = "temperature_flip" if args.flip_tta else "temperature"
        print(f"wrote {key} = {result['temperature']} to {result['written']}")
    return 0


def report_quality(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """Print (or write) the ``--quality`` result."""
    if args.write:
        key = "temperature_quality_flip" if args.flip_tta else "temperature_quality"
        table = quality_fit.toml_table(result["temperature_quality"])
        note = f"models/calibrate.py --quality --holdout {args.holdout}"
        note += " --flip-tta" if args.flip_tta else ""
        write_temperature(args.models_dir / "manifest.toml", args.model, table, note, key=key)
        result["written"] = f"{key} in {args.models_dir / 'manifest.toml'}"
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['model']}: {result['temperature_quality']} ({result['fitted_on']})")
    print(
        f"  T range {result['temperature_range']}; ECE > 0.05 in {result['over_0.05']} "
        f"conditions of {len(result['calibration_split'])}; worst {result['worst']}"
    )
    if "written" in result:
        print(f"wrote {result['written']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
