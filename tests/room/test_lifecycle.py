"""Ending a room: by a moderator, or by itself after the teacher left it open."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from classroom.actions.lifecycle import do_end_expired_rooms
from classroom.models import Attendance, Room

pytestmark = pytest.mark.django_db(transaction=True)


async def _room(lesson: Room) -> Room:
    return await sync_to_async(Room.objects.get)(pk=lesson.pk)


async def test_room_end_tells_everyone_and_closes_with_4409(enter, lesson, teacher, student, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    assert (await teacher_socket.request("room.end"))["type"] == "ok"
    for each in (socket, waiting, teacher_socket):
        assert (await each.expect("room.ended")) == {"type": "room.ended", "reason": "ended"}
        assert await each.closed() == 4409
    room = await _room(lesson)
    assert room.ended_at is not None and room.end_reason == "ended"
    open_rows = await sync_to_async(Attendance.objects.filter(room=lesson, left_at__isnull=True).count)()
    assert open_rows == 0


async def test_student_cannot_end_lesson(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("room.end"))["code"] == "forbidden"
    assert (await _room(lesson)).ended_at is None


async def test_leave_open_closes_the_teachers_socket_and_keeps_students(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    reply = await teacher_socket.request("room.leave_open", minutes=5)
    assert reply["type"] == "ok" and reply["closes_at"]
    assert await teacher_socket.closed() == 1000
    updated = await socket.expect("room.updated")
    assert updated["room"]["closes_at"] == reply["closes_at"]
    assert (await socket.request("ping"))["type"] == "ok"
    assert (await _room(lesson)).ended_at is None


@pytest.mark.embedded_only("shortens ROOM_LEAVE_OPEN_MINUTE_SECONDS in this process only")
async def test_left_open_lesson_ends_by_itself_with_timeout(enter, lesson, teacher, student, settings):
    settings.ROOM_LEAVE_OPEN_MINUTE_SECONDS = 0.2
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("room.leave_open", minutes=1)
    assert (await socket.expect("room.ended", timeout=3)) == {"type": "room.ended", "reason": "timeout"}
    assert await socket.closed() == 4409
    assert (await _room(lesson)).end_reason == "timeout"


async def test_expired_lesson_ends_when_someone_connects(open_socket, lesson, student):
    await sync_to_async(Room.objects.filter(pk=lesson.pk).update)(closes_at=timezone.now())
    socket = await open_socket(student, lesson)
    assert await socket.closed() == 4409
    assert (await _room(lesson)).end_reason == "timeout"


async def test_periodic_check_ends_expired_lessons(lesson):
    await sync_to_async(Room.objects.filter(pk=lesson.pk).update)(closes_at=timezone.now())
    assert await sync_to_async(do_end_expired_rooms)() == 1
    assert (await _room(lesson)).end_reason == "timeout"


@pytest.mark.embedded_only("shortens ROOM_LEAVE_OPEN_MINUTE_SECONDS in this process only")
async def test_teacher_coming_back_cancels_leave_open(enter, lesson, teacher, student, settings):
    settings.ROOM_LEAVE_OPEN_MINUTE_SECONDS = 0.3
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("room.leave_open", minutes=1)
    await enter(teacher, lesson)
    updated = await socket.expect("room.updated", timeout=2)
    while updated["room"]["closes_at"] is not None:
        updated = await socket.expect("room.updated", timeout=2)
    await asyncio.sleep(0.5)  # the point: past the cancelled deadline (0.3 s), the room is still open
    assert (await _room(lesson)).ended_at is None


async def test_student_cannot_leave_open(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("room.leave_open", minutes=5))["code"] == "forbidden"


async def test_supervisor_cannot_leave_a_lesson_open(enter, lesson, teacher, supervisor):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(supervisor, lesson, until="waiting")
    await teacher_socket.request("waiting.admit", id=str(supervisor.pk))
    await waiting.expect("state")
    assert (await waiting.request("room.leave_open", minutes=5))["code"] == "forbidden"


@pytest.mark.parametrize("minutes", [0, 16, "5", 2.5])
async def test_leave_open_minutes_out_of_range_is_invalid(enter, lesson, teacher, minutes):
    teacher_socket = await enter(teacher, lesson)
    assert (await teacher_socket.request("room.leave_open", minutes=minutes))["code"] == "invalid"
    assert (await _room(lesson)).closes_at is None
