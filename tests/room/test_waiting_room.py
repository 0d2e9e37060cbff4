"""The waiting room: moderators admit or deny; a lock makes students wait."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_moderator_admits_a_waiting_user(enter, lesson, teacher, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    await teacher_socket.expect("waiting.updated")
    reply = await teacher_socket.request("waiting.admit", id=str(other_class_student.pk))
    assert reply["type"] == "ok"
    await waiting.expect("admitted")
    state = await waiting.expect("state")
    assert state["you"]["id"] == str(other_class_student.pk)
    joined = await teacher_socket.expect("participant.joined")
    assert joined["participant"]["id"] == str(other_class_student.pk)
    update = await teacher_socket.expect("waiting.updated")
    assert update["waiting"] == []


async def test_admitted_user_then_receives_room_events(enter, lesson, teacher, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    await teacher_socket.request("waiting.admit", id=other_class_student.pk)
    await waiting.expect("state")
    await teacher_socket.request("chat.send", text="Bienvenue")
    message = await waiting.expect("chat.message")
    assert message["message"]["text"] == "Bienvenue"


async def test_waiting_user_gets_no_room_events(enter, lesson, teacher, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    await teacher_socket.request("chat.send", text="Secret de classe")
    await waiting.quiet("chat.message")


async def test_denied_user_is_closed_with_4403_and_cannot_knock_again(
    enter, open_socket, lesson, teacher, other_class_student
):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    reply = await teacher_socket.request("waiting.deny", id=str(other_class_student.pk))
    assert reply["type"] == "ok"
    await waiting.expect("denied")
    assert await waiting.closed() == 4403
    again = await open_socket(other_class_student, lesson)
    assert await again.closed() == 4403


async def test_admit_all_admits_everyone_waiting(enter, lesson, teacher, other_class_student, other_teacher):
    teacher_socket = await enter(teacher, lesson)
    first = await enter(other_class_student, lesson, until="waiting")
    second = await enter(other_teacher, lesson, until="waiting")
    reply = await teacher_socket.request("waiting.admit_all")
    assert sorted(reply["admitted"]) == sorted([str(other_class_student.pk), str(other_teacher.pk)])
    await first.expect("state")
    await second.expect("state")


async def test_moderator_state_lists_the_waiting(enter, lesson, teacher, other_class_student):
    await enter(other_class_student, lesson, until="waiting")
    teacher_socket = await enter(teacher, lesson)
    assert teacher_socket.seen[-1]["waiting"] == [
        {"id": str(other_class_student.pk), "name": "Jean-Édouard Petit", "reason": "not_in_class"}
    ]


async def test_waiting_user_who_leaves_drops_off_the_list(enter, lesson, teacher, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    await teacher_socket.expect("waiting.updated")
    await waiting.leave()
    update = await teacher_socket.expect("waiting.updated")
    assert update["waiting"] == []


async def test_unlocking_admits_students_waiting_for_the_lock(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("room.update", locked=True)
    waiting = await enter(student, lesson, until="waiting")
    assert waiting.seen[-1]["reason"] == "locked"
    await teacher_socket.request("room.update", locked=False)
    await waiting.expect("admitted")
    await waiting.expect("state")


async def test_admitted_student_stays_admitted_after_lock_on_reconnect(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    first = await enter(student, lesson)
    await teacher_socket.request("room.update", locked=True)
    await first.leave()
    await enter(student, lesson)


async def test_waiting_user_cannot_chat(enter, lesson, other_class_student):
    waiting = await enter(other_class_student, lesson, until="waiting")
    reply = await waiting.request("chat.send", text="hello")
    assert reply["code"] == "forbidden"


async def test_waiting_user_may_ping(enter, lesson, other_class_student):
    waiting = await enter(other_class_student, lesson, until="waiting")
    assert (await waiting.request("ping"))["type"] == "ok"


async def test_student_cannot_admit(enter, lesson, student, other_class_student):
    student_socket = await enter(student, lesson)
    await enter(other_class_student, lesson, until="waiting")
    for kind, fields in (
        ("waiting.admit", {"id": str(other_class_student.pk)}),
        ("waiting.deny", {"id": str(other_class_student.pk)}),
        ("waiting.admit_all", {}),
    ):
        reply = await student_socket.request(kind, **fields)
        assert reply["code"] == "forbidden", kind


async def test_admitting_someone_not_waiting_is_not_found(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    reply = await teacher_socket.request("waiting.admit", id=str(student.pk))
    assert reply["code"] == "not_found"
