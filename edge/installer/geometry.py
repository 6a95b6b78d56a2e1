"""Polygons of the setup view: normalised 0..1 coordinates (resolution-independent, what the
view saves) <-> pixels of the analysed frame, and validation of what the browser sends. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from edge.config.privacy import MAX_POINTS, Region

Point = tuple[float, float]

#: Decimals kept when saving (1/10000 of the frame: below a pixel for frames up to 10000 px).
DECIMALS = 4


def to_normalised(points: Sequence[Point], width: int, height: int) -> list[Point]:
    """Pixel vertices of a ``width`` x ``height`` frame as fractions of it."""
    return [(round(x / width, DECIMALS), round(y / height, DECIMALS)) for x, y in points]


def to_pixels(points: Sequence[Point], width: int, height: int) -> list[Point]:
    return [(x * width, y * height) for x, y in points]


def region_normalised(region: Region, width: int, height: int) -> list[Point]:
    """Any configured region (pixels or normalised, polygon or rect) as normalised vertices,
    clipped to the frame (a pixel region may reach beyond it)."""
    return [
        (min(1.0, round(x / width, DECIMALS)), min(1.0, round(y / height, DECIMALS)))
        for x, y in region.in_pixels(width, height)
    ]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Proper crossing of two segments (touching at an end point does not count)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def area(points: Sequence[Point]) -> float:
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


def polygon_problem(raw: object, name: str) -> str | None:
    """Why ``raw`` (JSON from the browser) is not a usable normalised polygon, or None."""
    if not isinstance(raw, list) or not 3 <= len(raw) <= MAX_POINTS:
        return f"{name}: a polygon needs 3 to {MAX_POINTS} points"
    for index, point in enumerate(raw):
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            return f"{name}: point {index + 1} is not [x, y]"
        if not all(0.0 <= float(v) <= 1.0 for v in point):
            return f"{name}: point {index + 1} lies outside the picture"
    points = [(float(x), float(y)) for x, y in raw]
    if area(points) < 1e-6:
        return f"{name}: the polygon has no area (draw at least three separate corners)"
    edges = list(zip(points, [*points[1:], points[0]], strict=True))
    for i, (a1, a2) in enumerate(edges):
        for j in range(i + 2, len(edges)):
            if i == 0 and j == len(edges) - 1:
                continue  # neighbours through the closing edge
            if _segments_cross(a1, a2, *edges[j]):
                return f"{name}: the outline crosses itself (edges {i + 1} and {j + 1})"
    return None


def parse_polygons(document: object) -> tuple[list[list[Point]], list[Point] | None]:
    """``{"masks": [polygon, ...], "roi": polygon | null}`` from the browser; ValueError
    naming every problem."""
    if not isinstance(document, dict) or set(document) - {"masks", "roi"}:
        raise ValueError('expected {"masks": [...], "roi": [...] or null}')
    masks_raw = document.get("masks", [])
    if not isinstance(masks_raw, list) or len(masks_raw) > 32:
        raise ValueError("masks must be a list of at most 32 polygons")
    roi_raw = document.get("roi")
    problems = [p for i, m in enumerate(masks_raw) if (p := polygon_problem(m, f"mask {i + 1}"))]
    if roi_raw is not None and (problem := polygon_problem(roi_raw, "region of interest")):
        problems.append(problem)
    if problems:
        raise ValueError("; ".join(problems))
    masks = [[(float(x), float(y)) for x, y in m] for m in masks_raw]
    roi = None if roi_raw is None else [(float(x), float(y)) for x, y in roi_raw]
    return masks, roi
