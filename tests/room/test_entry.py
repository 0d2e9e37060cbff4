"""Opening a room socket: who enters, who waits, who is refused, and with which close code."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from classroom.models import Attendance, Room
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_socket_is_closed_with_4401(open_socket, lesson):
    socket = await open_socket(None, lesson)
    assert await socket.closed() == 4401


async def test_unknown_room_is_closed_with_4404(open_socket, student):
    socket = await open_socket(student, "00000000-0000-0000-0000-000000000000")
    assert await socket.closed() == 4404


async def test_ended_room_is_closed_with_4409(open_socket, lesson, student):
    await sync_to_async(Room.objects.filter(pk=lesson.pk).update)(ended_at="2026-01-01T00:00:00Z")
    socket = await open_socket(student, lesson)
    assert await socket.closed() == 4409


async def test_cross_origin_socket_is_refused_at_handshake(lesson, student):
    from tests.room.conftest import session_cookie

    cookie = await sync_to_async(session_cookie)(student)
    communicator = WebsocketCommunicator(
        application,
        f"/ws/rooms/{lesson.pk}/",
        headers=[(b"origin", b"https://evil.example"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_teacher_of_the_class_enters_as_moderator(enter, lesson, teacher):
    socket = await enter(teacher, lesson)
    state = socket.seen[-1]
    assert state["you"]["moderator"] is True
    assert state["room"]["id"] == str(lesson.pk)
    assert state["waiting"] == []
    assert state["decks"] == [] and state["slides"] is None


async def test_student_of_the_class_enters_directly(enter, lesson, student):
    socket = await enter(student, lesson)
    state = socket.seen[-1]
    assert state["you"] == {**state["you"], "id": str(student.pk), "moderator": False, "presenter": False}
    assert "waiting" not in state
    assert state["room"]["students_can"] == {"audio": True, "video": True, "screen": False, "chat": True}


async def test_others_see_a_participant_join_and_leave(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    joined = await teacher_socket.expect("participant.joined")
    assert joined["participant"]["id"] == str(student.pk)
    assert joined["participant"]["name"] == "Léa Martin"
    await student_socket.leave()
    left = await teacher_socket.expect("participant.left")
    assert left["id"] == str(student.pk)


async def test_second_tab_does_not_leave_when_first_closes(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    first = await enter(student, lesson)
    await enter(student, lesson)
    await first.leave()
    await teacher_socket.quiet("participant.left")


async def test_student_of_another_class_waits_with_not_in_class(enter, lesson, teacher, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(other_class_student, lesson, until="waiting")
    assert socket.seen[-1] == {"type": "waiting", "reason": "not_in_class"}
    update = await teacher_socket.expect("waiting.updated")
    assert update["waiting"] == [
        {"id": str(other_class_student.pk), "name": "Jean-Édouard Petit", "reason": "not_in_class"}
    ]


async def test_teacher_outside_the_team_waits(enter, lesson, other_teacher):
    socket = await enter(other_teacher, lesson, until="waiting")
    assert socket.seen[-1]["reason"] == "not_in_class"


async def test_student_waits_when_room_is_locked(enter, lesson, student):
    await sync_to_async(Room.objects.filter(pk=lesson.pk).update)(locked=True)
    socket = await enter(student, lesson, until="waiting")
    assert socket.seen[-1]["reason"] == "locked"


async def test_student_of_other_class_is_refused_from_recess(open_socket, supervisor, other_class_student):
    def make_recess() -> Room:
        from classroom.models import SchoolClass

        room = Room.objects.create(kind=Room.Kind.RECESS, title="Récré", created_by=supervisor)
        room.classes.add(SchoolClass.objects.get(name="6A"))
        return room

    recess = await sync_to_async(make_recess)()
    socket = await open_socket(other_class_student, recess)
    assert await socket.closed() == 4403


async def test_attendance_row_opens_and_closes(enter, lesson, student):
    socket = await enter(student, lesson)
    rows = await sync_to_async(list)(Attendance.objects.filter(room=lesson, user=student).values("left_at"))
    assert rows == [{"left_at": None}]
    await socket.leave()
    rows = await sync_to_async(list)(
        Attendance.objects.filter(room=lesson, user=student).values_list("left_at", flat=True)
    )
    assert len(rows) == 1 and rows[0] is not None
