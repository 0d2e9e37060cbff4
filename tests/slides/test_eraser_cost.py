"""The eraser's cost is bounded: a grid over its path, and one budget for all its work (slides/geometry.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from slides import annotations
from slides.geometry import Budget, EraserPath, _segments, _segments_distance
from slides.models import Stroke

REACH = 0.04


def _brute_touches(eraser: list[list[float]], reach: float, line: list[list[float]]) -> bool:
    return any(_segments_distance(s, t) <= reach for s in _segments(eraser) for t in _segments(line))


def _zigzag(points: int) -> list[list[float]]:
    """The worst eraser: 2,000 points across the whole page and back."""
    return [[(n % 2) * 1.0, n / (points - 1)] for n in range(points)]


def _scribbles(count: int, rng: random.Random, points: int = 20) -> list[list[list[float]]]:
    strokes = []
    for _ in range(count):
        x, y = rng.random(), rng.random()
        strokes.append([[min(1, max(0, x + rng.uniform(-0.05, 0.05))), min(1, max(0, y + rng.uniform(-0.05, 0.05)))]
                        for _ in range(points)])  # fmt: skip
    return strokes


def _meets(line: list[list[float]], x0: float, y0: float, x1: float, y1: float) -> bool:
    xs, ys = [p[0] for p in line], [p[1] for p in line]
    return min(xs) <= x1 and max(xs) >= x0 and min(ys) <= y1 and max(ys) >= y0


def test_the_grid_finds_exactly_what_comparing_every_segment_finds() -> None:
    rng = random.Random(18)
    for _ in range(300):
        eraser = [[rng.random(), rng.random()] for _ in range(rng.randint(1, 12))]
        path = EraserPath(eraser, REACH, Budget(10**9))
        for line in _scribbles(5, rng, points=rng.randint(1, 6)):
            reach = rng.uniform(0.001, REACH)
            assert path.touches(line, reach) == _brute_touches(eraser, reach, line), (eraser, line, reach)


def test_an_ordinary_swipe_over_a_full_page_is_well_within_the_budget() -> None:
    rng = random.Random(5)
    strokes = _scribbles(5000, rng)
    swipe = [[0.2 + 0.3 * n / 99, 0.5] for n in range(100)]
    budget = Budget(annotations.ERASER_BUDGET)
    path = EraserPath(swipe, REACH, budget)
    # as the database's query does: only strokes whose box meets the swipe's, widened by the reach
    near = [n for n, line in enumerate(strokes) if _meets(line, 0.2 - REACH, 0.5 - REACH, 0.5 + REACH, 0.5 + REACH)]
    assert len(near) > 100
    found = [n for n in near if path.touches(strokes[n], 0.01)]
    assert not path.exhausted and budget.left > annotations.ERASER_BUDGET * 0.8
    assert found == [n for n, line in enumerate(strokes) if _brute_touches(swipe, 0.01, line)] and found


def test_two_thousand_points_over_five_thousand_strokes_stop_at_the_budget() -> None:
    rng = random.Random(7)
    strokes = _scribbles(5000, rng)
    budget = Budget(annotations.ERASER_BUDGET)
    path = EraserPath(_zigzag(2000), REACH, budget)
    checked = 0
    for line in strokes:
        path.touches(line, REACH)
        checked += 1
        if path.exhausted:
            break
    # the work stopped at the budget (one step past it at most), before every stroke was looked at
    assert path.exhausted and checked < len(strokes)
    assert budget.left >= -(64 * 64 + 5 * 2000)


pytestmark_db = pytest.mark.django_db(transaction=True)
LINE = {"tool": "pen", "color": "#d62728", "width": 0.004}


@pytestmark_db
async def test_a_worst_case_eraser_is_answered_and_erases_what_it_reached(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    assert (await teacher_socket.request("slides.open", deck=str(ready_deck.pk)))["type"] == "ok"
    rng = random.Random(3)
    rows: list[Any] = [
        Stroke(room=lesson, deck=ready_deck, page=1, author=teacher, key=f"s{n}", tool="pen", color="#000000",
               width=0.004, points=line, min_x=min(p[0] for p in line), min_y=min(p[1] for p in line),
               max_x=max(p[0] for p in line), max_y=max(p[1] for p in line))
        for n, line in enumerate(_scribbles(4999, rng))
    ]  # fmt: skip
    await sync_to_async(Stroke.objects.bulk_create)(rows)
    eraser = {"tool": "eraser", "color": "#000000", "width": 0.05, "points": _zigzag(2000)}
    reply = await teacher_socket.request("annotation.add", page=1, stroke=eraser)
    assert reply["type"] == "ok"
    await student_socket.expect("annotation.removed", id=reply["id"], timeout=60)
    erased = await sync_to_async(Stroke.objects.filter(erased_by_id=int(reply["id"])).count)()
    # the oldest strokes it crossed are erased, and the budget left the rest
    assert 0 < erased < 4999
    first = await sync_to_async(lambda: Stroke.objects.filter(key="s0").first())()
    assert first is not None and first.erased_by_id == int(reply["id"])
