"""Stroke geometry, pure: the outline a stroke draws and whether an eraser path touches it (fractions of the page)."""

from __future__ import annotations

import math
from collections.abc import Sequence

Coordinates = Sequence[Sequence[float]]


def bounds(points: Coordinates) -> tuple[float, float, float, float]:
    xs = [point[0] for point in points]
    ys = [point[1] for point in points]
    return min(xs), min(ys), max(xs), max(ys)


def outline(tool: str, points: Coordinates, text: str = "", width: float = 0.0) -> list[tuple[float, float]]:
    """The polyline that a stroke draws, for hit tests and the PDF: shapes from their first and last point."""
    first, last = (points[0][0], points[0][1]), (points[-1][0], points[-1][1])
    if tool in ("line", "arrow"):
        return [first, last]
    if tool == "rect":
        (x0, y0), (x1, y1) = first, last
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    if tool == "ellipse":
        (x0, y0), (x1, y1) = first, last
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
        return [(cx + rx * math.cos(2 * math.pi * i / 32), cy + ry * math.sin(2 * math.pi * i / 32)) for i in range(33)]
    if tool == "text":
        x, y = first
        size = text_size(width)
        right = min(1.0, x + 0.55 * size * len(text))
        return [(x, y), (right, y), (right, y + size), (x, y + size), (x, y)]
    return [(point[0], point[1]) for point in points]


def text_size(width: float) -> float:
    """The height of a text stroke's letters, as a fraction of the page height: ten times its width."""
    return width * 10


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


Segment = tuple[tuple[float, float], tuple[float, float]]


def _segments(line: Sequence[Sequence[float]]) -> list[Segment]:
    points = [(point[0], point[1]) for point in line]
    return list(zip(points, points[1:], strict=False)) or [(points[0], points[0])]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_distance(s: Segment, t: Segment) -> float:
    (p1, p2), (q1, q2) = s, t
    d1, d2, d3, d4 = _cross(q1, q2, p1), _cross(q1, q2, p2), _cross(p1, p2, q1), _cross(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return 0.0
    return min(
        _segment_distance(*p1, *q1, *q2),
        _segment_distance(*p2, *q1, *q2),
        _segment_distance(*q1, *p1, *p2),
        _segment_distance(*q2, *p1, *p2),
    )


def _near(segment: Segment, box: tuple[float, float, float, float], reach: float) -> bool:
    (ax, ay), (bx, by) = segment
    return (
        min(ax, bx) <= box[2] + reach
        and max(ax, bx) >= box[0] - reach
        and min(ay, by) <= box[3] + reach
        and max(ay, by) >= box[1] - reach
    )


def touches(eraser: Coordinates, reach: float, line: Sequence[Sequence[float]]) -> bool:
    """Whether an eraser path comes within `reach` of a polyline (only segments near each other are compared)."""
    targets = _segments(line)
    target_box = bounds([point for segment in targets for point in segment])
    near = [s for s in _segments(eraser) if _near(s, target_box, reach)]
    if not near:
        return False
    eraser_box = bounds([point for segment in near for point in segment])
    targets = [t for t in targets if _near(t, eraser_box, reach)]
    return any(_segments_distance(s, t) <= reach for s in near for t in targets)
