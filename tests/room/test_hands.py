"""Raised hands: a queue in raise order, restored on reconnect."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_hands_queue_keeps_raise_order(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    first = await enter(student2, lesson)
    second = await enter(student, lesson)
    await first.request("hand.raise")
    await second.request("hand.raise")
    await teacher_socket.expect("hands", queue=[str(student2.pk), str(student.pk)])


async def test_lowering_own_hand_leaves_the_queue(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await socket.request("hand.raise")
    await teacher_socket.expect("hands", queue=[str(student.pk)])
    await socket.request("hand.lower")
    await teacher_socket.expect("hands", queue=[])


async def test_moderator_lowers_a_students_hand(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await socket.request("hand.raise")
    reply = await teacher_socket.request("hand.lower", id=str(student.pk))
    assert reply["type"] == "ok"
    await socket.expect("hands", queue=[])


async def test_student_cannot_lower_another_students_hand(enter, lesson, student, student2):
    first = await enter(student, lesson)
    second = await enter(student2, lesson)
    await first.request("hand.raise")
    reply = await second.request("hand.lower", id=str(student.pk))
    assert reply["code"] == "forbidden"


async def test_reconnect_restores_raised_hand(enter, lesson, teacher, student):
    socket = await enter(student, lesson)
    await socket.request("hand.raise")
    await socket.leave()
    again = await enter(student, lesson)
    state = again.seen[-1]
    assert state["you"]["hand"] is True
    assert state["hands"] == [str(student.pk)]


async def test_hand_of_someone_who_left_leaves_the_queue(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await socket.request("hand.raise")
    await teacher_socket.expect("hands", queue=[str(student.pk)])
    await socket.leave()
    await teacher_socket.expect("hands", queue=[])


async def test_hand_raise_with_bad_id_is_invalid(enter, lesson, student):
    socket = await enter(student, lesson)
    reply = await socket.request("hand.raise", id="léa")
    assert reply["code"] == "invalid"
    assert (await socket.request("ping"))["type"] == "ok"
