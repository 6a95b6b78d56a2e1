"""``detector:``, ``classifier:`` and ``models:``: the two models and where they live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from edge.config.base import Strict


class DetectorConfig(Strict):
    """Face detector (BlazeFace) settings."""

    model: str = Field(default="blazeface_full_range", description="Model id in the manifest.")
    score_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5
    nms_iou: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.3
    tiles: Annotated[StrictInt, Field(ge=1, le=4)] = Field(
        default=1,
        description="Split the frame into tiles x tiles overlapping tiles (plus the whole frame) "
        "to find small faces; 1 = whole frame only.",
    )
    tile_overlap: Annotated[StrictFloat, Field(ge=0, le=0.5)] = 0.25
    max_faces: Annotated[StrictInt, Field(ge=1, le=100)] = 20
    threads: Annotated[StrictInt, Field(ge=1, le=8)] = 2


class ClassifierConfig(Strict):
    """Expression classifier settings."""

    model: str = Field(default="edge_fer_cnn_int8", description="Model id in the manifest.")
    threads: Annotated[StrictInt, Field(ge=1, le=8)] = 1
    margin: Annotated[StrictFloat, Field(ge=0, le=1)] = Field(
        default=0.1, description="Extra crop around the aligned face, as a fraction of its size."
    )
    flip_tta: StrictBool = Field(
        default=True,
        description="Also classify each face mirrored left-right and average the two outputs "
        "(test-time augmentation): two invokes per face for about one point of accuracy.",
    )


class ModelsConfig(Strict):
    """Where model files and their manifest live."""

    dir: Path | None = Field(
        default=None, description="Folder with manifest.toml; default: the bundled models."
    )
