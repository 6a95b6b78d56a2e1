"""Robustness training helpers for ``train.py`` (issue 21).

- :func:`robust_batch`: the robustness augmentation. A ``p`` fraction of a batch's images get one
  random degradation family of ``edge/tools/eval/conditions.py`` (the same functions the
  ``edge eval --conditions`` suite scores with) at a strength drawn uniformly between none and
  severe. The generator is seeded by ``(seed, global step)``, so the draws of a step do not depend
  on prefetching or on where a run was stopped and continued.
- :func:`perturbed_copy`: the fixed perturbed copy of the model-choice set: every image gets one
  of the ``families x {mild, moderate}`` conditions (a fixed permutation cycles through them, so
  each condition gets an equal share), seeded per image.
- :func:`save_state` / :func:`load_state`: the per-epoch resume point (weights, optimizer
  variables incl. the step counter that drives the LR schedule, epoch, best score, elapsed time),
  written to ``<out>/state`` by an atomic directory swap so a kill mid-save leaves the previous
  state readable.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from edge.tools.eval.conditions import (  # noqa: E402
    FAMILIES,
    family_weights,  # noqa: F401 (train.py imports it from here)
    random_condition,
)

SELECT_LEVELS = ("mild", "moderate")
SELECT_SEED = 2121


def robust_batch(
    x_u8: np.ndarray,
    step: int,
    *,
    p: float,
    seed: int,
    power: float = 1.0,
    weights: dict[str, float] | None = None,
) -> np.ndarray:
    """Degrade a ``p`` share of a (B, H, W[, 1]) uint8 batch; deterministic in (seed, step);
    ``power`` > 1 weights the strengths towards mild, ``weights`` the families
    (``random_condition``)."""
    rng = np.random.default_rng([seed, 21, int(step)])
    out = np.array(x_u8, dtype=np.uint8, copy=True)
    squeeze = out.ndim == 4
    for i in range(len(out)):
        if rng.random() < p:
            img = out[i, ..., 0] if squeeze else out[i]
            deg = random_condition(np.ascontiguousarray(img), rng, power, weights)
            if squeeze:
                out[i, ..., 0] = deg
            else:
                out[i] = deg
    return out


def select_conditions() -> list[tuple[str, str]]:
    """The (family, level) pairs of the perturbed model-choice copy."""
    return [(f, lv) for f in FAMILIES for lv in SELECT_LEVELS]


def perturbed_copy(images: np.ndarray, seed: int = SELECT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(perturbed images, condition index per image into :func:`select_conditions`)."""
    combos = select_conditions()
    order = np.random.default_rng(seed).permutation(len(images))
    which = np.empty(len(images), dtype=np.int64)
    which[order] = np.arange(len(images)) % len(combos)
    out = images.copy()
    for i in range(len(images)):
        family, level = combos[which[i]]
        out[i] = FAMILIES[family].apply(images[i], level, np.random.default_rng([seed, i]))
    return out, which


# ------------------------------------------------------------------------------- resume state


def save_state(out: Path, model: Any, optimizer: Any, info: dict[str, Any]) -> None:
    """Write ``<out>/state`` (weights, optimizer variables, ``state.json``) atomically."""
    tmp, cur, old = out / "state.tmp", out / "state", out / "state.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_weights(tmp / "model.weights.h5")
    arrays = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}
    np.savez(tmp / "optimizer.npz", **arrays)
    seeds = {f"s{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(_seed_states(model))}
    np.savez(tmp / "seeds.npz", **seeds)
    (tmp / "state.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if cur.exists():
        cur.rename(old)
    tmp.rename(cur)
    shutil.rmtree(old, ignore_errors=True)


def state_dir(out: Path) -> Path:
    """The newest complete state folder of a run (``state``, or ``state.old`` after a kill)."""
    for name in ("state", "state.old"):
        d = out / name
        if (d / "state.json").is_file() and (d / "optimizer.npz").is_file():
            return d
    raise SystemExit(f"--continue {out}: no saved state (expected {out}/state/state.json)")


def load_state(d: Path, model: Any, optimizer: Any) -> dict[str, Any]:
    """Restore weights and optimizer variables (the optimizer must be built); return the info."""
    model.load_weights(d / "model.weights.h5")
    with np.load(d / "optimizer.npz") as z:
        arrays = [z[k] for k in sorted(z.files)]
    variables = list(optimizer.variables)
    if len(arrays) != len(variables):
        raise SystemExit(f"{d}: {len(arrays)} optimizer arrays for {len(variables)} variables")
    for v, a in zip(variables, arrays, strict=True):
        if tuple(v.shape) != a.shape:
            raise SystemExit(f"{d}: optimizer variable {v.path} shape {v.shape} != {a.shape}")
        v.assign(a)
    if (d / "seeds.npz").is_file():
        with np.load(d / "seeds.npz") as z:
            for v, k in zip(_seed_states(model), sorted(z.files), strict=True):
                v.assign(z[k])
    info: dict[str, Any] = json.loads((d / "state.json").read_text())
    return info


def _seed_states(model: Any) -> list[Any]:
    """The state variables of the layers' seed generators (dropout's random stream), which
    ``save_weights`` does not store."""
    return [ly.seed_generator.state for ly in model.layers if hasattr(ly, "seed_generator")]
