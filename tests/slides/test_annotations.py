"""Drawing on the page shown and on the whiteboard, through the real ASGI application (docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from classroom import ratelimit
from slides import annotations
from slides.models import Stroke
from tests.room.conftest import DaphneCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

LINE = {"tool": "pen", "color": "#d62728", "width": 0.004, "points": [[0.1, 0.1], [0.4, 0.2], [0.6, 0.5]]}


async def _showing(teacher_socket: Any, deck: Any, page: int = 1) -> None:
    assert (await teacher_socket.request("slides.open", deck=str(deck.pk)))["type"] == "ok"
    if page != 1:
        assert (await teacher_socket.request("slides.goto", page=page))["type"] == "ok"


async def test_the_teacher_draws_and_every_student_sees_the_stroke(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck, page=2)
    reply = await teacher_socket.request("annotation.add", page=2, stroke=LINE)
    assert reply["type"] == "ok" and reply["id"]
    event = await student_socket.expect("annotation.added")
    assert event["page"] == 2 and event["deck"] == str(ready_deck.pk)
    stroke = event["stroke"]
    assert stroke["id"] == reply["id"] and stroke["by"] == str(teacher.pk)
    assert (stroke["tool"], stroke["color"], stroke["width"]) == ("pen", "#d62728", 0.004)
    assert stroke["points"] == LINE["points"] and stroke["final"] is True


async def test_a_stroke_reaches_others_while_it_is_drawn(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    first = {**LINE, "points": [[0.2, 0.2]]}
    await teacher_socket.send({"type": "annotation.add", "page": 1, "key": "k1", "final": False, "stroke": first})
    added = await student_socket.expect("annotation.added")
    assert added["stroke"]["final"] is False and added["stroke"]["key"] == "k1"
    await teacher_socket.send(
        {"type": "annotation.extend", "page": 1, "key": "k1", "points": [[0.3, 0.25], [0.4, 0.3]]}
    )
    grown = await student_socket.expect("annotation.extended")
    assert grown == {
        "type": "annotation.extended",
        "deck": str(ready_deck.pk),
        "page": 1,
        "id": added["stroke"]["id"],
        "points": [[0.3, 0.25], [0.4, 0.3]],
        "final": False,
    }
    reply = await teacher_socket.request("annotation.extend", page=1, key="k1", points=[[0.5, 0.5]], final=True)
    assert reply["type"] == "ok"
    assert (await student_socket.expect("annotation.extended"))["final"] is True
    # a finished stroke takes no more points
    late = await teacher_socket.request("annotation.extend", page=1, key="k1", points=[[0.6, 0.6]])
    assert late["code"] == "conflict"
    late_joiner = await enter(student, lesson)
    [stroke] = late_joiner.seen[-1]["slides"]["annotations"]
    assert stroke["points"] == [[0.2, 0.2], [0.3, 0.25], [0.4, 0.3], [0.5, 0.5]] and stroke["final"] is True


async def test_late_joiners_reconnects_and_page_turns_replay_the_drawing(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await _showing(teacher_socket, ready_deck, page=2)
    first = (await teacher_socket.request("annotation.add", page=2, stroke=LINE))["id"]
    text = {"tool": "text", "color": "#1f77b4", "width": 0.004, "points": [[0.5, 0.5]], "text": "<b>x = 2</b>"}
    second = (await teacher_socket.request("annotation.add", page=2, stroke=text))["id"]
    late = await enter(student, lesson)
    annotations = late.seen[-1]["slides"]["annotations"]
    assert [stroke["id"] for stroke in annotations] == [first, second]
    # text is kept as text: the page shows it with textContent, never as HTML
    assert annotations[1]["text"] == "<b>x = 2</b>"
    await teacher_socket.request("slides.goto", page=3)
    assert (await late.expect("slides.page", page=3))["annotations"] == []
    await late.leave()
    again = await enter(student, lesson)
    assert again.seen[-1]["slides"]["page"] == 3 and again.seen[-1]["slides"]["annotations"] == []
    await teacher_socket.request("slides.goto", page=2)
    turned = await again.expect("slides.page", page=2)
    assert [stroke["id"] for stroke in turned["annotations"]] == [first, second]


async def test_a_student_without_the_pen_may_not_draw(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    assert (await student_socket.request("annotation.add", page=1, stroke=LINE))["code"] == "forbidden"
    assert (await student_socket.request("annotation.clear", page=1))["code"] == "forbidden"
    assert await sync_to_async(Stroke.objects.count)() == 0


async def test_a_moderator_gives_a_student_the_pen_and_takes_it_back(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    me = next(item for item in student_socket.seen[-1]["participants"] if item["id"] == str(student.pk))
    assert me["draw"] is False
    assert (await teacher_socket.request("draw.set", id=str(student.pk), draw=True))["type"] == "ok"
    updated = await student_socket.expect("participant.updated")
    assert updated["participant"]["id"] == str(student.pk) and updated["participant"]["draw"] is True
    reply = await student_socket.request("annotation.add", page=1, stroke=LINE)
    assert reply["type"] == "ok"
    assert (await teacher_socket.expect("annotation.added"))["stroke"]["by"] == str(student.pk)
    await teacher_socket.request("draw.set", id=str(student.pk), draw=False)
    assert (await student_socket.expect("participant.updated"))["participant"]["draw"] is False
    assert (await student_socket.request("annotation.add", page=1, stroke=LINE))["code"] == "forbidden"


async def test_a_student_may_not_give_the_pen(enter, lesson, teacher, student, student2):
    await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await enter(student2, lesson)
    assert (await student_socket.request("draw.set", id=str(student2.pk), draw=True))["code"] == "forbidden"


async def test_a_presenter_draws_and_moderators_are_shown_drawing(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    teacher_object = next(item for item in student_socket.seen[-1]["participants"] if item["id"] == str(teacher.pk))
    assert teacher_object["draw"] is True
    await _showing(teacher_socket, ready_deck)
    await teacher_socket.request("presenter.set", id=str(student.pk), presenter=True)
    assert (await student_socket.expect("participant.updated"))["participant"]["draw"] is True
    assert (await student_socket.request("annotation.add", page=1, stroke=LINE))["type"] == "ok"


@pytest.mark.parametrize(
    "stroke",
    [
        {**LINE, "points": [[0.1, 1.2]]},
        {**LINE, "points": [[-0.1, 0.5]]},
        {**LINE, "points": [[0.1, "0.5"]]},
        {**LINE, "points": [[0.1, True]]},
        {**LINE, "points": []},
        {**LINE, "points": [[0.5, 0.5]] * 2001},
        {**LINE, "tool": "spray"},
        {**LINE, "color": "red"},
        {**LINE, "color": "#12345"},
        {**LINE, "width": 0.0005},
        {**LINE, "width": 0.2},
        {**LINE, "tool": "text"},
        {**LINE, "tool": "text", "text": "x" * 501},
        {**LINE, "tool": "text", "text": "   "},
        {**LINE, "onclick": "alert(1)"},
    ],
)
async def test_an_invalid_stroke_is_refused_and_not_kept(enter, lesson, ready_deck, teacher, stroke):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    assert (await socket.request("annotation.add", page=1, stroke=stroke))["code"] == "invalid"
    assert await sync_to_async(Stroke.objects.count)() == 0


async def test_text_on_another_tool_is_accepted_and_dropped(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    reply = await teacher_socket.request("annotation.add", page=1, stroke={**LINE, "text": "a note on a pen stroke"})
    assert reply["type"] == "ok"
    stroke = (await student_socket.expect("annotation.added"))["stroke"]
    assert stroke["tool"] == "pen" and "text" not in stroke
    assert await sync_to_async(lambda: Stroke.objects.get(pk=int(reply["id"])).text)() == ""


async def test_a_stroke_grows_to_two_thousand_points_and_no_more(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    start = {**LINE, "points": [[0.5, 0.5]] * 1000}
    await socket.request("annotation.add", page=1, key="long", final=False, stroke=start)
    assert (await socket.request("annotation.extend", page=1, key="long", points=[[0.5, 0.5]] * 1000))["type"] == "ok"
    over = await socket.request("annotation.extend", page=1, key="long", points=[[0.5, 0.5]])
    assert over["code"] == "invalid"
    assert (await socket.request("annotation.extend", page=1, key="long", points=[], final=True))["type"] == "ok"
    stroke = await sync_to_async(Stroke.objects.get)(key="long")
    assert len(stroke.points) == 2000 and stroke.final


async def test_a_full_stroke_as_the_page_sends_it_fits_in_one_frame(enter, lesson, ready_deck, teacher, student):
    """2,000 points rounded to 4 decimals, as annotations.js sends them (`clamp`), fit under the 64 KiB frame."""
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    # every coordinate has 4 decimals (the longest the page writes), none ending in 0

    def coordinate(n: int) -> float:
        digits = 1111 + n % 8800
        return (digits + 1 if digits % 10 == 0 else digits) / 10000

    points = [[coordinate(n * 37), coordinate(n * 53 + 7)] for n in range(2000)]
    stroke = {**LINE, "points": points}
    frame = json.dumps({"type": "annotation.add", "ref": 1, "page": 1, "stroke": stroke})
    assert 30_000 < len(frame.encode()) < 64 * 1024
    reply = await teacher_socket.request("annotation.add", page=1, stroke=stroke)
    assert reply["type"] == "ok"
    stroke = (await student_socket.expect("annotation.added"))["stroke"]
    assert stroke["id"] == reply["id"] and stroke["points"] == points


async def test_drawing_on_a_page_not_shown_is_a_conflict(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    assert (await socket.request("annotation.add", page=1, stroke=LINE))["code"] == "conflict"
    await _showing(socket, ready_deck)
    assert (await socket.request("annotation.add", page=2, stroke=LINE))["code"] == "conflict"


async def test_a_page_holds_at_most_five_thousand_strokes(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    await sync_to_async(Stroke.objects.bulk_create)(
        Stroke(
            room=lesson,
            deck=ready_deck,
            page=1,
            author=teacher,
            key=f"b{n}",
            tool="pen",
            color="#000000",
            width=0.004,
            points=[[0.5, 0.5]],
        )  # fmt: skip
        for n in range(5000)
    )
    assert (await socket.request("annotation.add", page=1, stroke=LINE))["code"] == "conflict"
    assert await sync_to_async(Stroke.objects.count)() == 5000


async def test_erased_strokes_count_towards_what_a_page_keeps(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)

    def fill() -> None:
        def row(key: str, tool: str = "pen", erased_by: Stroke | None = None) -> Stroke:
            return Stroke(
                room=lesson,
                deck=ready_deck,
                page=1,
                author=teacher,
                key=key,
                tool=tool,
                color="#000000",
                width=0.004,
                points=[[0.5, 0.5]],
                erased_by=erased_by,
            )

        eraser = row("eraser", tool="eraser")
        eraser.save()
        Stroke.objects.bulk_create(row(f"e{n}", erased_by=eraser) for n in range(annotations.MAX_ROWS_PER_PAGE - 1))

    await sync_to_async(fill)()
    # nothing shows on the page, but it keeps as many rows as it may: no more until it is cleared
    assert (await socket.request("annotation.add", page=1, stroke=LINE))["code"] == "conflict"
    assert await sync_to_async(Stroke.objects.count)() == annotations.MAX_ROWS_PER_PAGE
    assert (await socket.request("annotation.clear", page=1))["type"] == "ok"
    assert (await socket.request("annotation.add", page=1, stroke=LINE))["type"] == "ok"


@pytest.mark.embedded_only("the limit is lowered in this process; the servers keep theirs")
async def test_drawing_is_rate_limited_per_user(enter, lesson, ready_deck, teacher, monkeypatch):
    monkeypatch.setitem(ratelimit.PER_USER, "annotation", (3, 10))
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    codes = [(await socket.request("annotation.add", page=1, stroke=LINE)).get("code") for _ in range(4)]
    assert codes == [None, None, None, "rate_limited"]
    assert await sync_to_async(Stroke.objects.count)() == 3


async def _drawing_together(enter, lesson, deck, teacher, student):
    """The teacher shows the deck and lets the student draw; both sockets."""
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, deck)
    await teacher_socket.request("draw.set", id=str(student.pk), draw=True)
    return teacher_socket, student_socket


async def test_undo_takes_back_ones_own_last_stroke(enter, lesson, ready_deck, teacher, student):
    teacher_socket, student_socket = await _drawing_together(enter, lesson, ready_deck, teacher, student)
    mine = (await student_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    theirs = (await teacher_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    # the student's undo skips the teacher's later stroke and takes back the student's own
    assert (await student_socket.request("annotation.undo", page=1))["type"] == "ok"
    assert (await teacher_socket.expect("annotation.removed")) == {
        "type": "annotation.removed",
        "deck": str(ready_deck.pk),
        "page": 1,
        "id": mine,
    }
    ids = await sync_to_async(lambda: list(Stroke.objects.values_list("pk", flat=True)))()
    assert [str(pk) for pk in ids] == [theirs]


async def test_a_student_undoes_only_their_own_strokes_and_a_moderator_any(enter, lesson, ready_deck, teacher, student):
    teacher_socket, student_socket = await _drawing_together(enter, lesson, ready_deck, teacher, student)
    teachers = (await teacher_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    students = (await student_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    assert (await student_socket.request("annotation.undo", page=1, id=teachers))["code"] == "forbidden"
    assert (await teacher_socket.request("annotation.undo", page=1, id=students))["type"] == "ok"
    await student_socket.expect("annotation.removed", id=students)
    assert (await student_socket.request("annotation.undo", page=1))["code"] == "not_found"


async def test_a_moderators_undo_takes_back_the_pages_last_stroke_by_anyone(
    enter, lesson, ready_deck, teacher, student
):
    teacher_socket, student_socket = await _drawing_together(enter, lesson, ready_deck, teacher, student)
    teachers = (await teacher_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    students = (await student_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    # no `id`: the moderator takes back the student's stroke, the last one on the page
    assert (await teacher_socket.request("annotation.undo", page=1))["type"] == "ok"
    await student_socket.expect("annotation.removed", id=students)
    ids = await sync_to_async(lambda: [str(pk) for pk in Stroke.objects.values_list("pk", flat=True)])()
    assert ids == [teachers]
    # a student without `id` still takes back only their own: none left
    assert (await student_socket.request("annotation.undo", page=1))["code"] == "not_found"


async def test_clear_empties_the_page_for_everyone(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    await teacher_socket.request("annotation.add", page=1, stroke=LINE)
    await teacher_socket.request("annotation.add", page=1, stroke=LINE)
    assert (await teacher_socket.request("annotation.clear", page=1))["type"] == "ok"
    assert await student_socket.expect("annotation.cleared", page=1, deck=str(ready_deck.pk))
    late = await enter(student, lesson)
    assert late.seen[-1]["slides"]["annotations"] == []


async def test_the_eraser_removes_what_it_crosses_and_undo_brings_it_back(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    crossed = (await teacher_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    apart = {**LINE, "points": [[0.8, 0.9], [0.9, 0.9]]}
    kept = (await teacher_socket.request("annotation.add", page=1, stroke=apart))["id"]
    eraser = {"tool": "eraser", "color": "#000000", "width": 0.02, "points": [[0.4, 0.05], [0.4, 0.35]]}
    await teacher_socket.request("annotation.add", page=1, stroke=eraser)
    assert await student_socket.expect("annotation.removed", id=crossed)
    late = await enter(student, lesson)
    assert [stroke["id"] for stroke in late.seen[-1]["slides"]["annotations"]] == [kept]
    assert (await teacher_socket.request("annotation.undo", page=1))["type"] == "ok"
    back = await student_socket.expect("annotation.added")
    assert back["stroke"]["id"] == crossed
    again = await enter(student, lesson)
    assert [stroke["id"] for stroke in again.seen[-1]["slides"]["annotations"]] == [crossed, kept]


async def test_the_whiteboard_has_pages_to_draw_on(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    reply = await teacher_socket.request("board.open")
    assert reply["slides"] == {"deck": None, "page": 1, "pages": 1, "board": True}
    assert (await student_socket.expect("slides.page")) == {
        "type": "slides.page",
        "deck": None,
        "page": 1,
        "pages": 1,
        "board": True,
        "annotations": [],
    }
    first = (await teacher_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    assert (await student_socket.expect("annotation.added"))["deck"] is None
    added = await teacher_socket.request("board.page.add")
    assert added["slides"]["page"] == 2 and added["slides"]["pages"] == 2
    await teacher_socket.request("annotation.add", page=2, stroke={**LINE, "tool": "rect"})
    late = await enter(student, lesson)
    slides = late.seen[-1]["slides"]
    assert (slides["board"], slides["page"], slides["pages"]) == (True, 2, 2)
    assert [stroke["tool"] for stroke in slides["annotations"]] == ["rect"]
    await teacher_socket.request("slides.goto", page=1)
    assert [stroke["id"] for stroke in (await late.expect("slides.page", page=1))["annotations"]] == [first]


async def test_a_student_may_not_open_the_whiteboard(enter, lesson, teacher, student):
    await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    assert (await student_socket.request("board.open"))["code"] == "forbidden"
    assert (await student_socket.request("board.page.add"))["code"] == "forbidden"


async def test_deck_strokes_and_board_strokes_stay_apart(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    await socket.request("annotation.add", page=1, stroke=LINE)
    await socket.request("board.open")
    assert (await socket.expect("slides.page", deck=None))["annotations"] == []
    await socket.request("slides.open", deck=str(ready_deck.pk))
    assert len((await socket.expect("slides.page", deck=str(ready_deck.pk)))["annotations"]) == 1


async def _start(socket: Any, key: str, page: int = 1) -> None:
    first = {**LINE, "points": [[0.2, 0.2]]}
    reply = await socket.request("annotation.add", page=page, key=key, final=False, stroke=first)
    assert reply["type"] == "ok"


async def test_a_stroke_being_drawn_is_written_once_when_the_pen_lifts(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    await _start(teacher_socket, "once")
    for n in range(5):
        await teacher_socket.request("annotation.extend", page=1, key="once", points=[[0.3, 0.2 + n / 100]])
        assert (await student_socket.expect("annotation.extended"))["points"] == [[0.3, 0.2 + n / 100]]
    # the batches went to everyone; the row still holds the first point only
    row = await sync_to_async(Stroke.objects.get)(key="once")
    assert row.points == [[0.2, 0.2]] and not row.final
    # a late joiner on this process sees the points so far
    if not isinstance(teacher_socket.communicator, DaphneCommunicator):
        late = await enter(student, lesson)
        [drawn] = late.seen[-1]["slides"]["annotations"]
        assert len(drawn["points"]) == 6 and drawn["final"] is False
    await teacher_socket.request("annotation.extend", page=1, key="once", points=[[0.9, 0.9]], final=True)
    row = await sync_to_async(Stroke.objects.get)(key="once")
    assert len(row.points) == 7 and row.final and (row.max_x, row.max_y) == (0.9, 0.9)


async def test_taking_the_pen_ends_the_stroke_being_drawn(enter, lesson, ready_deck, teacher, student):
    teacher_socket, student_socket = await _drawing_together(enter, lesson, ready_deck, teacher, student)
    await _start(student_socket, "taken")
    await student_socket.request("annotation.extend", page=1, key="taken", points=[[0.3, 0.3]])
    await teacher_socket.request("draw.set", id=str(student.pk), draw=False)
    # the student's socket hears it, and the stroke is kept as drawn, finished, for everyone
    ended = await teacher_socket.expect("annotation.extended", final=True)
    assert ended["points"] == []
    more = await student_socket.request("annotation.extend", page=1, key="taken", points=[[0.4, 0.4]])
    assert more["code"] == "forbidden"
    row = await sync_to_async(Stroke.objects.get)(key="taken")
    assert row.points == [[0.2, 0.2], [0.3, 0.3]] and row.final


async def test_a_stroke_left_unfinished_when_its_socket_closes_is_kept_as_drawn(
    enter, lesson, ready_deck, teacher, student
):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    await _start(teacher_socket, "gone")
    await teacher_socket.request("annotation.extend", page=1, key="gone", points=[[0.3, 0.3], [0.4, 0.4]])
    await teacher_socket.leave()
    ended = await student_socket.expect("annotation.extended", final=True)
    assert ended["points"] == []
    late = await enter(student, lesson)
    [kept] = late.seen[-1]["slides"]["annotations"]
    assert kept["points"] == [[0.2, 0.2], [0.3, 0.3], [0.4, 0.4]] and kept["final"] is True


async def test_a_stroke_cleared_while_it_is_drawn_stays_gone(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    await _start(socket, "cleared")
    assert (await socket.request("annotation.clear", page=1))["type"] == "ok"
    await socket.request("annotation.extend", page=1, key="cleared", points=[[0.5, 0.5]], final=True)
    assert await sync_to_async(Stroke.objects.count)() == 0


async def test_a_live_eraser_erases_at_pen_up(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await _showing(teacher_socket, ready_deck)
    crossed = (await teacher_socket.request("annotation.add", page=1, stroke=LINE))["id"]
    eraser = {"tool": "eraser", "color": "#000000", "width": 0.02, "points": [[0.4, 0.05]]}
    await teacher_socket.request("annotation.add", page=1, key="rub", final=False, stroke=eraser)
    await teacher_socket.request("annotation.extend", page=1, key="rub", points=[[0.4, 0.35]])
    # nothing is erased before the pen lifts
    assert await sync_to_async(Stroke.objects.filter(erased_by__isnull=False).count)() == 0
    await teacher_socket.request("annotation.extend", page=1, key="rub", points=[], final=True)
    assert await student_socket.expect("annotation.removed", id=crossed)


@pytest.mark.embedded_only("the limit is lowered in this process; the servers keep theirs")
async def test_point_batches_are_rate_limited_per_user(enter, lesson, ready_deck, teacher, monkeypatch):
    monkeypatch.setitem(ratelimit.PER_USER, "annotation", (3, 10))
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    await _start(socket, "fast")
    replies = [await socket.request("annotation.extend", page=1, key="fast", points=[[0.5, 0.5]]) for _ in range(4)]
    assert [reply.get("code") for reply in replies] == [None, None, None, "rate_limited"]


async def test_a_batch_for_another_page_or_past_the_limit_is_invalid(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await _showing(socket, ready_deck)
    await _start(socket, "where")
    assert (await socket.request("annotation.extend", page=2, key="where", points=[[0.5, 0.5]]))["code"] == "invalid"
    assert (await socket.request("annotation.extend", page=1, key="nokey", points=[[0.5, 0.5]]))["code"] == "not_found"


@pytest.mark.embedded_only("the failure is made in this process")
async def test_a_failed_store_when_the_pen_is_taken_leaves_the_socket_open(
    enter, lesson, ready_deck, teacher, student, monkeypatch
):
    teacher_socket, student_socket = await _drawing_together(enter, lesson, ready_deck, teacher, student)
    assert (await student_socket.expect("participant.updated"))["participant"]["draw"] is True
    await _start(student_socket, "lost")

    def database_gone(*args: Any) -> None:
        raise OperationalError("the database is gone")

    monkeypatch.setattr(annotations, "_store", database_gone)
    await teacher_socket.request("draw.set", id=str(student.pk), draw=False)
    # the page still hears that it lost the pen, and its socket goes on
    assert (await student_socket.expect("participant.updated"))["participant"]["draw"] is False
    assert (await student_socket.request("ping"))["type"] == "ok"
