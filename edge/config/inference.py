"""``detector:``, ``classifier:`` and ``models:``: the two models, where they live, and how often
each one runs (the schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictBool, StrictFloat, StrictInt

from edge.config.base import Strict


def _tiles(value: object) -> object:
    """``auto`` or a whole number of tiles per side, 1..4 (one clear error for both forms)."""
    if value == "auto" or (type(value) is int and 1 <= value <= 4):
        return value
    raise ValueError("tiles must be auto or a whole number from 1 to 4")


class DetectorConfig(Strict):
    """Face detector (BlazeFace) settings."""

    model: str = Field(default="blazeface_full_range", description="Model id in the manifest.")
    score_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5
    nms_iou: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.3
    tiles: Annotated[int | Literal["auto"], BeforeValidator(_tiles)] = Field(
        default="auto",
        description="Split the frame into tiles x tiles overlapping tiles (plus the whole frame) "
        "to find small faces; 1 = whole frame only; auto = the fewest tiles whose side is at "
        "most auto_tile_ratio times the detector's input side.",
    )
    auto_tile_ratio: Annotated[StrictFloat, Field(ge=1, le=16)] = Field(
        default=4.0,
        description="With tiles: auto, the largest tile side in frame pixels per detector input "
        "pixel (4 with the 192 px input: a 640 px frame is one tile, a 1000 px frame 2 x 2).",
    )
    tile_overlap: Annotated[StrictFloat, Field(ge=0, le=0.5)] = 0.25
    max_faces: Annotated[StrictInt, Field(ge=1, le=200)] = 50
    threads: Annotated[StrictInt, Field(ge=1, le=8)] = 2
    fps: Annotated[StrictFloat, Field(gt=0, le=120)] | None = Field(
        default=5.0,
        description="Run the detector at most this often per second of video; tracks are "
        "carried between detections. null = on every frame.",
    )


class ClassifierConfig(Strict):
    """Expression classifier settings."""

    model: str = Field(default="edge_robust_cnn_int8", description="Model id in the manifest.")
    threads: Annotated[StrictInt, Field(ge=1, le=8)] = 1
    margin: Annotated[StrictFloat, Field(ge=0, le=1)] = Field(
        default=0.1, description="Extra crop around the aligned face, as a fraction of its size."
    )
    flip_tta: StrictBool = Field(
        default=True,
        description="Also classify each face mirrored left-right and average the two outputs "
        "(test-time augmentation): two invokes per face for about one point of accuracy.",
    )
    interval_s: Annotated[StrictFloat, Field(ge=0, le=60)] = Field(
        default=0.5,
        description="Classify a tracked face again after this many seconds (new faces at "
        "once; sooner when the face changed); 0 = every face on every detection.",
    )
    reclassify_shift: Annotated[StrictFloat, Field(gt=0, le=10)] = Field(
        default=0.5,
        description="A face whose centre moved this many face widths since its last "
        "classification is classified again before interval_s.",
    )
    reclassify_scale: Annotated[StrictFloat, Field(gt=0, le=10)] = Field(
        default=0.25,
        description="... or whose size changed by this fraction ...",
    )
    reclassify_score: Annotated[StrictFloat, Field(gt=0, le=1)] = Field(
        default=0.2, description="... or whose detector score changed by this much."
    )
    max_batch: Annotated[StrictInt, Field(ge=1, le=200)] = Field(
        default=16,
        description="At most this many due faces per batched invoke (new faces always go); "
        "the others wait for the next frame, most overdue first. Not applied with "
        "interval_s 0 (every face on every detection).",
    )


class ModelsConfig(Strict):
    """Where model files and their manifest live."""

    dir: Path | None = Field(
        default=None, description="Folder with manifest.toml; default: the bundled models."
    )
