"""``privacy:``: k-anonymity, masks, region of interest, minimum face size, differential privacy.

Validation does no I/O and knows no frame size: pixel coordinates are checked against the
frame when the first frame of a given size arrives (:mod:`edge.privacy.filter`).

A region is written with explicit units, so a number's meaning never depends on context::

    - units: normalized          # 0..1 of the frame width/height, (0, 0) = top-left
      points: [[0, 0], [0.3, 0], [0.3, 1], [0, 1]]
    - units: pixels              # pixels of the analysed frame (camera.width x camera.height)
      rect: [500, 0, 640, 120]   # x0, y0, x1, y1
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt, model_validator

from edge.config.base import Strict

Coordinate = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]

#: Most vertices one region may have (a hand-drawn outline needs far fewer).
MAX_POINTS = 256


class Region(Strict):
    """A polygon (``points``, >= 3 vertices) or a rectangle (``rect``) on the frame."""

    units: Literal["pixels", "normalized"] = Field(
        description="'normalized': 0..1 of the frame width and height; 'pixels': pixels of "
        "the analysed frame. Required, so a coordinate's meaning is always explicit."
    )
    points: Annotated[list[Point], Field(min_length=3, max_length=MAX_POINTS)] | None = Field(
        default=None, description="Polygon vertices [[x, y], ...] in order, x to the right."
    )
    rect: tuple[Coordinate, Coordinate, Coordinate, Coordinate] | None = Field(
        default=None, description="Rectangle [x0, y0, x1, y1] (top-left, bottom-right)."
    )

    @model_validator(mode="after")
    def _shape(self) -> Region:
        if (self.points is None) == (self.rect is None):
            raise ValueError("a region needs exactly one of 'points' (a polygon) or 'rect'")
        if self.rect is not None:
            x0, y0, x1, y1 = self.rect
            if x1 <= x0 or y1 <= y0:
                raise ValueError(
                    f"rect {list(self.rect)} must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0"
                )
        if self.units == "normalized":
            for index, (x, y) in enumerate(self.polygon()):
                if x > 1 or y > 1:
                    raise ValueError(
                        f"point {index + 1} ({x:g}, {y:g}) is outside 0..1; normalized "
                        "coordinates are fractions of the frame (use units: pixels for pixels)"
                    )
        if _area(self.polygon()) <= 0:
            raise ValueError("the polygon has no area (points on one line, or repeated)")
        return self

    def polygon(self) -> list[tuple[float, float]]:
        """The vertices in the region's own units (a rectangle as its four corners)."""
        if self.rect is not None:
            x0, y0, x1, y1 = self.rect
            return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        assert self.points is not None  # guaranteed by _shape
        return [(float(x), float(y)) for x, y in self.points]

    def in_pixels(self, width: int, height: int) -> list[tuple[float, float]]:
        """The vertices in pixels of a ``width`` x ``height`` frame."""
        if self.units == "pixels":
            return self.polygon()
        return [(x * width, y * height) for x, y in self.polygon()]


def _area(points: list[tuple[float, float]]) -> float:
    """Absolute polygon area by the shoelace formula."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


class DpConfig(Strict):
    """Differential privacy of the published numbers (Laplace mechanism, per window)."""

    epsilon: Annotated[StrictFloat, Field(gt=0, le=10, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Privacy budget per window and per face track; null = off. Smaller means "
        "more noise. It adds up over windows: n windows cost n * epsilon (docs/privacy.md).",
    )
    counts_fraction: Annotated[StrictFloat, Field(gt=0, lt=1)] = Field(
        default=0.5,
        description="Part of epsilon spent on the counts (faces, mean_faces_present, "
        "dominant_counts); the rest goes to the expression shares.",
    )

    @property
    def enabled(self) -> bool:
        return self.epsilon is not None


class PrivacyConfig(Strict):
    """Anonymity rules applied before anything is published."""

    min_faces: Annotated[StrictInt, Field(ge=1, le=1000)] = Field(
        default=3,
        description="k-anonymity: windows with fewer distinct faces publish no expressions.",
    )
    masks: Annotated[tuple[Region, ...], Field(max_length=32)] = Field(
        default=(),
        description="Regions blacked out on every frame before detection (edge.privacy).",
    )
    roi: Region | None = Field(
        default=None,
        description="Region of interest: faces whose box centre lies outside it are dropped "
        "before classification; null = the whole frame.",
    )
    min_face_px: Annotated[StrictInt, Field(ge=0, le=4096)] = Field(
        default=0,
        description="Faces whose box is narrower or lower than this many pixels are dropped "
        "before classification; 0 = keep all.",
    )
    dp: DpConfig = Field(default=DpConfig(), description="Differential privacy (Laplace).")
