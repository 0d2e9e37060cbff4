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


# The eraser grid's smallest cell: at most 64 x 64 cells over the page.
MIN_CELL = 1 / 64
# What comparing two segments costs, in the budget's units (a look-up, a box or a point is one).
DISTANCE_COST = 4


class Budget:
    """A fixed amount of work (segment pairs compared, points read, grid cells filled) for one eraser."""

    def __init__(self, units: int) -> None:
        self.left = units

    def spend(self, units: int = 1) -> bool:
        self.left -= units
        return self.left >= 0


class EraserPath:
    """An eraser's path on a grid of cells twice as wide as the farthest reach, so that each segment of a
    stroke is compared only with the eraser's segments in the cells around it.

    Filling the grid, reading strokes and comparing segments all spend `budget`; once it is spent,
    `touches` answers False and `exhausted` is True, so that one eraser costs a bounded time whatever
    its path and the page hold (2,000 points over 5,000 strokes).
    """

    def __init__(self, points: Coordinates, reach: float, budget: Budget) -> None:
        self.reach = reach
        self.budget = budget
        # a point within `reach` of a segment lies in a cell next to one of its steps' (reach + step/2 < cell)
        self.cell = max(2 * reach, MIN_CELL)
        self.exhausted = False
        self.grid: dict[tuple[int, int], list[int]] = {}
        self.segments = _segments(points)
        self.boxes = [(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])) for a, b in self.segments]
        for index, segment in enumerate(self.segments):
            keys = self._cells_along(segment)
            if not self._spend(len(keys)):
                break
            for key in keys:
                self.grid.setdefault(key, []).append(index)

    def _spend(self, units: int) -> bool:
        if not self.budget.spend(units):
            self.exhausted = True
        return not self.exhausted

    def _cells_along(self, segment: Segment) -> set[tuple[int, int]]:
        """The cells within `reach` of a segment: walked in steps of half a cell, each step's and their neighbours."""
        (ax, ay), (bx, by) = segment
        steps = max(1, math.ceil(2 * math.hypot(bx - ax, by - ay) / self.cell))
        keys: set[tuple[int, int]] = set()
        for step in range(steps + 1):
            i, j = self._key(ax + (bx - ax) * step / steps, ay + (by - ay) * step / steps)
            keys.update((i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))
        return keys

    def _key(self, x: float, y: float) -> tuple[int, int]:
        return math.floor(x / self.cell), math.floor(y / self.cell)

    def touches(self, line: Sequence[Sequence[float]], reach: float) -> bool:
        """Whether the path comes within `reach` (at most the grid's) of a polyline."""
        if self.exhausted or not self._spend(len(line)):
            return False
        for target in _segments(line):
            (ax, ay), (bx, by) = target
            i0, j0 = self._key(min(ax, bx), min(ay, by))
            i1, j1 = self._key(max(ax, bx), max(ay, by))
            near: set[int] = set()
            for i in range(i0, i1 + 1):
                for j in range(j0, j1 + 1):
                    near.update(self.grid.get((i, j), ()))
            if not self._spend((i1 - i0 + 1) * (j1 - j0 + 1) + len(near)):
                return False
            x0, y0, x1, y1 = min(ax, bx) - reach, min(ay, by) - reach, max(ax, bx) + reach, max(ay, by) + reach
            boxes = self.boxes
            close = [
                i for i in near if boxes[i][0] <= x1 and boxes[i][2] >= x0 and boxes[i][1] <= y1 and boxes[i][3] >= y0
            ]
            if not self._spend(DISTANCE_COST * len(close)):
                return False
            if any(_segments_distance(self.segments[index], target) <= reach for index in close):
                return True
        return False
