"""The model manifest (``models/manifest.toml``) and a loader that checks what it loads.

At start-up every model file is hashed and compared with the manifest, and the built
interpreter's input/output shapes, dtypes and quantization are compared with it too; any
difference stops the service with a message that names the file and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.quality import QualityTemperature
from edge.inference.runtime import Interpreter, as_int, make_interpreter
from edge.types import EXPRESSIONS

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """A model file or the manifest is missing, corrupt, or does not match; ``restore`` is
    True when the fix is to restore the file (reinstall, or rebuild in a checkout)."""

    def __init__(self, message: str, *, restore: bool = False) -> None:
        super().__init__(message)
        self.restore = restore


@dataclass(frozen=True, slots=True)
class Preprocess:
    """``y = (x * scale + offset) * multiply`` on uint8 pixels after colour and resize."""

    color: str
    resize: str
    scale: float
    offset: float
    multiply: float


@dataclass(frozen=True, slots=True)
class Quant:
    scale: float
    zero_point: int


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One manifest entry."""

    model_id: str
    kind: str
    path: Path
    sha256: str
    input_shape: tuple[int, ...]
    input_dtype: str
    output_dtype: str
    preprocess: Preprocess
    labels: tuple[str, ...]
    input_quant: Quant | None
    output_quant: Quant | None
    temperature: float
    extra: dict[str, Any]
    #: Temperature for the flip-TTA output (mean of a face and its mirror image); None: use
    #: ``temperature``. Averaging two passes softens the output, so it needs its own fit.
    temperature_flip: float | None = None
    #: Per-face temperature from crop quality (``edge.inference.quality``) for the one-pass and
    #: the flip-TTA output; when present it replaces ``temperature`` / ``temperature_flip``.
    temperature_quality: QualityTemperature | None = None
    temperature_quality_flip: QualityTemperature | None = None
    #: Window shares use each face's probabilities at its temperature times this factor
    #: (``edge.aggregation.shares``); ``_flip`` for the flip-TTA output (None: the same).
    share_temperature_factor: float = 1.0
    share_temperature_factor_flip: float | None = None

    def with_temperature(self, temperature: float) -> ModelSpec:
        """This entry with one temperature for every face and both modes (every other
        calibration removed): 1.0 gives the uncalibrated model."""
        return dataclasses.replace(
            self,
            temperature=temperature,
            temperature_flip=None,
            temperature_quality=None,
            temperature_quality_flip=None,
            share_temperature_factor=1.0,
            share_temperature_factor_flip=None,
        )

    @property
    def short_id(self) -> str:
        """Model id plus the first 12 hex digits of its sha256, as published in payloads."""
        return f"{self.model_id}@{self.sha256[:12]}"


def bundled_models_dir() -> Path:
    """The models shipped with the project: the source checkout's, else the installed copy."""
    checkout = Path(__file__).resolve().parents[2] / "models"
    if (checkout / "manifest.toml").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "edge-emotion" / "models"


def _quant(raw: Any) -> Quant | None:
    if raw is None:
        return None
    return Quant(float(raw["scale"]), int(raw["zero_point"]))


def read_manifest(models_dir: Path) -> dict[str, ModelSpec]:
    """Parse ``manifest.toml`` in ``models_dir``."""
    path = models_dir / "manifest.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"model manifest not found: {path}; set models.dir to the folder holding "
            "manifest.toml, or reinstall the package"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model manifest {path} is not valid TOML: {exc}") from None
    specs: dict[str, ModelSpec] = {}
    for model_id, entry in data.get("models", {}).items():
        try:
            pre = entry["preprocess"]
            specs[model_id] = ModelSpec(
                model_id=model_id,
                kind=str(entry["kind"]),
                path=models_dir / str(entry["file"]),
                sha256=str(entry["sha256"]),
                input_shape=tuple(int(x) for x in entry["input_shape"]),
                input_dtype=str(entry["input_dtype"]),
                output_dtype=str(entry["output_dtype"]),
                preprocess=Preprocess(
                    str(pre["color"]),
                    str(pre.get("resize", "auto")),
                    float(pre["scale"]),
                    float(pre["offset"]),
                    float(pre["multiply"]),
                ),
                labels=tuple(str(x) for x in entry.get("labels", ())),
                input_quant=_quant(entry.get("input_quant")),
                output_quant=_quant(entry.get("output_quant")),
                temperature=_temperature(entry, "temperature") or 1.0,
                extra={k: v for k, v in entry.items() if k in ("anchors", "outputs", "score_clip")},
                temperature_flip=_temperature(entry, "temperature_flip"),
                temperature_quality=_quality(entry, "temperature_quality"),
                temperature_quality_flip=_quality(entry, "temperature_quality_flip"),
                share_temperature_factor=_share_factor(entry, "share_temperature_factor") or 1.0,
                share_temperature_factor_flip=_share_factor(entry, "share_temperature_factor_flip"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"manifest {path}: entry {model_id!r} is malformed: {exc}") from None
    return specs


def _temperature(entry: dict[str, Any], key: str) -> float | None:
    """``entry[key]`` as a temperature (> 0), or None when the key is absent."""
    if key not in entry:
        return None
    value = float(entry[key])
    if not value > 0:  # also catches NaN
        raise ValueError(f"{key} = {entry[key]!r} must be > 0 (1.0 = no calibration)")
    return value


def _share_factor(entry: dict[str, Any], key: str) -> float | None:
    """``entry[key]`` as a share temperature factor (a number in [0.25, 10]), or None."""
    if key not in entry:
        return None
    raw = entry[key]
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0.25 <= raw <= 10:
        raise ValueError(
            f"{key} = {raw!r} must be a number from 0.25 to 10 (1.0 = shares are the "
            "probabilities); rerun models/calibrate.py --model ID --holdout ferplus --shares "
            f"{'--flip-tta ' if key.endswith('_flip') else ''}--write, or delete the line"
        )
    return float(raw)


def _quality(entry: dict[str, Any], key: str) -> QualityTemperature | None:
    """``entry[key]`` as a quality temperature table, or None when the key is absent."""
    return QualityTemperature.from_manifest(key, entry[key]) if key in entry else None


def get_spec(models_dir: Path, model_id: str, kind: str) -> ModelSpec:
    """The manifest entry ``model_id``, which must be of ``kind``."""
    specs = read_manifest(models_dir)
    if model_id not in specs:
        known = ", ".join(sorted(k for k, s in specs.items() if s.kind == kind))
        raise ModelError(
            f"model {model_id!r} is not in {models_dir / 'manifest.toml'}; "
            f"{kind} models available: {known}"
        )
    spec = specs[model_id]
    if spec.kind != kind:
        raise ModelError(f"model {model_id!r} is a {spec.kind}, not a {kind}")
    return spec


def _read_verified(spec: ModelSpec) -> bytes:
    try:
        content = spec.path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"model file missing: {spec.path} (model {spec.model_id}); "
            "rebuild it with `python models/build.py` or reinstall the package",
            restore=True,
        ) from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != spec.sha256:
        raise ModelError(
            f"model file {spec.path} has sha256 {digest}, the manifest expects {spec.sha256}: "
            "the file is corrupt or was replaced; rebuild it with `python models/build.py`",
            restore=True,
        )
    return content


def _check_tensor(spec: ModelSpec, what: str, detail: dict[str, Any], dtype: str) -> None:
    got = np.dtype(detail["dtype"]).name
    if got != dtype:
        raise ModelError(f"{spec.path.name}: {what} dtype is {got}, manifest says {dtype}")


def _check_outputs(spec: ModelSpec, shapes: list[tuple[int, ...]]) -> None:
    """The file's output shapes against what the manifest says and what the code reads: the
    manifest's ``outputs`` (detectors), one anchor per output row (detectors), and one
    probability per label in the expected order (classifiers)."""
    declared = spec.extra.get("outputs")
    if isinstance(declared, dict):
        want = sorted(tuple(int(x) for x in shape) for shape in declared.values())
        if sorted(shapes) != want:
            raise ModelError(
                f"{spec.path.name} (model {spec.model_id}): output shapes {sorted(shapes)} "
                f"differ from the manifest's outputs {want}"
            )
    anchors = spec.extra.get("anchors")
    if spec.kind == "detector" and isinstance(anchors, dict):
        size = spec.input_shape[1]
        count = sum(
            int(per) * math.ceil(size / int(stride)) ** 2
            for stride, per in zip(anchors["strides"], anchors["per_cell"], strict=True)
        )
        rows = {shape[1] for shape in shapes if len(shape) > 1}
        if rows != {count}:
            raise ModelError(
                f"{spec.path.name} (model {spec.model_id}): outputs have {sorted(rows)} rows, "
                f"the manifest's anchors make {count}"
            )
    if spec.kind == "classifier":
        if spec.labels != EXPRESSIONS:
            raise ModelError(
                f"manifest entry {spec.model_id!r}: labels {list(spec.labels)} differ from the "
                f"expected {list(EXPRESSIONS)}"
            )
        if [shape[-1] for shape in shapes] != [len(spec.labels)]:
            raise ModelError(
                f"{spec.path.name} (model {spec.model_id}): output shapes {shapes}, the "
                f"manifest lists {len(spec.labels)} labels"
            )


def load_model(spec: ModelSpec, threads: int) -> Interpreter:
    """Verify the file's sha256, build its interpreter once, check tensors against the spec."""
    content = _read_verified(spec)
    try:
        interpreter = make_interpreter(content, threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(
            f"model file {spec.path} (model {spec.model_id}) matches the manifest's sha256 but "
            f"the runtime cannot load it ({str(exc).strip()[:160]}); the manifest entry is "
            "wrong for this file: rebuild both with `python models/build.py`",
            restore=True,
        ) from None
    inp = interpreter.get_input_details()[0]
    shape = tuple(as_int(x) for x in inp["shape"])
    if shape != spec.input_shape:
        raise ModelError(f"{spec.path.name}: input shape {shape}, manifest says {spec.input_shape}")
    _check_tensor(spec, "input", inp, spec.input_dtype)
    for out in interpreter.get_output_details():
        _check_tensor(spec, "output", out, spec.output_dtype)
    _check_outputs(
        spec, [tuple(as_int(x) for x in d["shape"]) for d in interpreter.get_output_details()]
    )
    if np.dtype(spec.input_dtype).kind != "f" and spec.input_quant is None:
        raise ModelError(
            f"manifest entry {spec.model_id!r}: integer input ({spec.input_dtype}) needs "
            "input_quant = { scale = ..., zero_point = ... }"
        )
    for what, detail, quant in (
        ("input", inp, spec.input_quant),
        ("output", interpreter.get_output_details()[0], spec.output_quant),
    ):
        if quant is None:
            continue
        scale, zero = detail["quantization"]
        if not np.isclose(scale, quant.scale, rtol=1e-6) or int(zero) != quant.zero_point:
            raise ModelError(
                f"{spec.path.name}: {what} quantization ({scale}, {zero}) differs from the "
                f"manifest ({quant.scale}, {quant.zero_point})"
            )
    log.info("model %s loaded (%s, sha256 verified)", spec.model_id, spec.path.name)
    log.debug(
        "model %s (%s) loaded from %s: input %s %s, sha256 and tensors match the manifest",
        spec.short_id, spec.kind, spec.path, list(spec.input_shape), spec.input_dtype,
    )  # fmt: skip
    return interpreter
