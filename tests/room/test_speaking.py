"""Who speaks, from the forwarder to the room: a `speaking` event to every admitted socket, kept for readers."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from classroom import media

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.embedded_only("calls this process's media bridge as its forwarder does"),
]


async def kept(room_id: str, expected: list[str]) -> list[str]:
    """What `media.speaking` reads once the cache write (a task of its own) is done."""
    async with asyncio.timeout(3):
        while (ids := await sync_to_async(media.speaking)(room_id)) != expected:
            await asyncio.sleep(0.02)
    return ids


async def test_the_forwarders_speakers_reach_every_socket_and_are_kept(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await media._on_speaking(str(lesson.pk), [str(student.pk)])
    for socket in (teacher_socket, student_socket):
        assert await socket.expect("speaking") == {"type": "speaking", "ids": [str(student.pk)]}
    await media._on_speaking(str(lesson.pk), [])
    await student_socket.expect("speaking", ids=[])
    assert await kept(str(lesson.pk), []) == []


async def test_the_last_speakers_are_readable_from_the_action_layer(enter, lesson, teacher):
    await enter(teacher, lesson)
    assert await sync_to_async(media.speaking)(str(lesson.pk)) == []
    await media._on_speaking(str(lesson.pk), [str(teacher.pk)])
    assert await kept(str(lesson.pk), [str(teacher.pk)]) == [str(teacher.pk)]


async def test_a_waiting_socket_is_not_told_who_speaks(enter, lesson, teacher, other_class_student):
    teacher_socket = await enter(teacher, lesson)
    waiting = await enter(other_class_student, lesson, until="waiting")
    await media._on_speaking(str(lesson.pk), [str(teacher.pk)])
    await teacher_socket.expect("speaking")
    await waiting.quiet("speaking")
