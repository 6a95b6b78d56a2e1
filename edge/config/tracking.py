"""``tracking:`` and ``aggregation:``: ephemeral tracks and the windows they are counted in."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictFloat

from edge.config.base import Strict


class TrackingConfig(Strict):
    """Ephemeral in-memory tracks (never leave the process)."""

    iou_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.3
    max_distance: Annotated[StrictFloat, Field(gt=0, le=5)] = Field(
        default=1.0,
        description="Centroid fallback: match when centres are closer than this many face widths.",
    )
    max_missed_s: Annotated[StrictFloat, Field(gt=0, le=60)] = 1.5
    smoothing: Annotated[StrictFloat, Field(gt=0, le=1)] = Field(
        default=0.4, description="EMA weight of the newest frame's probabilities (1 = none)."
    )
    min_seen_s: Annotated[StrictFloat, Field(ge=0, le=60)] = Field(
        default=0.5,
        description="A track counts as a face in a window only after being seen this long.",
    )


class AggregationConfig(Strict):
    """Tumbling windows."""

    window_s: Annotated[StrictFloat, Field(ge=1, le=86400)] = 60.0
