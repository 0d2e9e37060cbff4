"""The lesson timer: a moderator starts it, everyone sees it, late joiners too, and it is stopped."""

from __future__ import annotations

from datetime import datetime

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_moderator_starts_the_timer_for_everyone(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    reply = await teacher_socket.request("timer.start", minutes=10)
    assert reply["type"] == "ok"
    timer = reply["timer"]
    assert timer["seconds"] == 600
    assert 598 <= timer["remaining"] <= 600
    event = await student_socket.expect("timer")
    assert event["timer"]["ends_at"] == timer["ends_at"]
    assert datetime.fromisoformat(timer["ends_at"]).tzinfo is not None


async def test_a_late_joiner_finds_the_timer_in_state(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    started = (await teacher_socket.request("timer.start", minutes=5))["timer"]
    state = (await enter(student, lesson)).seen[-1]
    assert state["timer"]["ends_at"] == started["ends_at"]
    assert state["timer"]["seconds"] == 300
    assert 0 < state["timer"]["remaining"] <= 300


async def test_no_timer_in_state_by_default(enter, lesson, student):
    assert (await enter(student, lesson)).seen[-1]["timer"] is None


async def test_stopping_clears_it_for_everyone_and_for_late_joiners(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("timer.start", minutes=5)
    await student_socket.expect("timer")
    assert (await teacher_socket.request("timer.stop"))["type"] == "ok"
    assert await student_socket.expect("timer") == {"type": "timer", "timer": None}
    assert (await enter(student2, lesson)).seen[-1]["timer"] is None


@pytest.mark.embedded_only("shortens ROOM_LEAVE_OPEN_MINUTE_SECONDS in this process only")
async def test_a_run_out_timer_stays_at_zero_until_stopped(settings, enter, lesson, teacher, student):
    settings.ROOM_LEAVE_OPEN_MINUTE_SECONDS = 0.001
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("timer.start", minutes=1)
    state = (await enter(student, lesson)).seen[-1]
    assert state["timer"]["remaining"] == 0
    assert (await teacher_socket.request("timer.stop"))["type"] == "ok"


async def test_a_student_may_not_start_or_stop_the_timer(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    assert (await student_socket.request("timer.start", minutes=5))["code"] == "forbidden"
    await teacher_socket.request("timer.start", minutes=5)
    assert (await student_socket.request("timer.stop"))["code"] == "forbidden"
    assert (await enter(student, lesson)).seen[-1]["timer"] is not None


async def test_minutes_out_of_range_are_invalid(enter, lesson, teacher):
    socket = await enter(teacher, lesson)
    for minutes in (0, 181, "5", 2.5):
        assert (await socket.request("timer.start", minutes=minutes))["code"] == "invalid"
    assert (await socket.request("timer.start"))["code"] == "invalid"


async def test_stopping_without_a_timer_is_a_conflict(enter, lesson, teacher):
    socket = await enter(teacher, lesson)
    assert (await socket.request("timer.stop"))["code"] == "conflict"


def test_timer_event_and_reply_are_closed():
    from pydantic import ValidationError

    from classroom import protocol as p

    timer = p.TimerObject(ends_at="2026-12-01T10:00:00+00:00", seconds=60, remaining=60)
    for model, fields in ((p.TimerEvent, {"timer": timer}), (p.TimerShown, {"ref": 1, "timer": timer})):
        with pytest.raises(ValidationError):
            model(**fields, unexpected=1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        p.TimerObject(ends_at="x", seconds=1, remaining=1, paused=True)  # type: ignore[call-arg]
    assert p.dump(p.TimerEvent(timer=None)) == {"type": "timer", "timer": None}
