# ruff: noqa: F811 - fixtures imported from tests/room, where their conftest defines them
"""However a room socket ends, it is counted out: no ghost stays "present" (issue 14, point 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from classroom import media
from classroom.consumers import RoomConsumer
from classroom.models import Attendance, Participant
from config.metrics import CHANNEL_FULL
from tests.room.conftest import enter, lesson, open_socket  # noqa: F401 - the room's socket fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def _standing(room: Any, user: Any) -> tuple[int, int]:
    """(open sockets counted, attendance rows still open) of a user in a room."""
    participant = Participant.objects.get(room=room, user=user)
    return participant.connections, Attendance.objects.filter(room=room, user=user, left_at__isnull=True).count()


async def test_a_deeply_nested_frame_is_invalid_and_the_socket_lives(enter, lesson, student):
    socket = await enter(student, lesson)
    await socket.communicator.send_to(text_data="[" * 5000)
    assert (await socket.expect("error"))["code"] == "invalid"
    assert (await socket.request("ping"))["type"] == "ok"


async def test_closing_after_nested_frames_counts_the_socket_out(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    for _ in range(3):
        await socket.communicator.send_to(text_data="[" * 5000)
    await socket.leave()
    await teacher_socket.expect("participant.left", id=str(student.pk))
    assert await sync_to_async(_standing)(lesson, student) == (0, 0)


@pytest.mark.embedded_only("makes this process's consumers fail")
async def test_a_handler_that_raises_still_counts_the_socket_out(enter, lesson, teacher, student, monkeypatch):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)

    relay = RoomConsumer.room_event

    async def broken(self: RoomConsumer, message: dict[str, Any]) -> None:
        if self.user.pk == student.pk:
            raise RuntimeError("a bug in an event handler")
        await relay(self, message)

    monkeypatch.setattr(RoomConsumer, "room_event", broken)
    await teacher_socket.send({"type": "hand.raise"})  # every socket of the room gets an event
    with pytest.raises(RuntimeError):  # the communicator re-raises the consumer's failure
        await socket.closed()
    await teacher_socket.expect("participant.left", id=str(student.pk))
    assert await sync_to_async(_standing)(lesson, student) == (0, 0)


@pytest.mark.embedded_only("cancels a consumer of this process, as daphne does to one too slow to close")
async def test_a_killed_consumer_is_counted_out(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    socket.communicator.future.cancel()
    await teacher_socket.expect("participant.left", id=str(student.pk))
    assert await sync_to_async(_standing)(lesson, student) == (0, 0)


@pytest.mark.embedded_only("fills a channel of this process's in-memory layer")
async def test_a_full_channel_never_fails_the_teachers_mute(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await enter(student, lesson)
    # A ghost socket that owned the student's media and reads nothing any more: its channel is full.
    layer = get_channel_layer()
    ghost = await layer.new_channel()
    for _ in range(layer.capacity):
        await layer.send(ghost, {"type": "room.event", "event": {"type": "hands", "queue": []}})
    await media.backend().take(str(lesson.pk), str(student.pk), ghost)
    before = CHANNEL_FULL._value.get()

    await media._send_to_user(str(lesson.pk), str(student.pk), {"type": "media.moved"})
    reply = await teacher_socket.request("mute", id=str(student.pk), kind="audio")

    assert reply["type"] == "ok"
    assert CHANNEL_FULL._value.get() > before
    assert (await teacher_socket.request("ping"))["type"] == "ok"


@pytest.mark.embedded_only("makes this process's actions fail")
async def test_a_failing_action_answers_unavailable_and_the_socket_lives(enter, lesson, student, monkeypatch):
    from classroom.actions import dispatch

    socket = await enter(student, lesson)

    def broken(actor: Any, message: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setitem(dispatch.HANDLERS, "hand.raise", broken)
    reply = await socket.request("hand.raise")
    assert (reply["type"], reply["code"]) == ("error", "unavailable")
    assert (await socket.request("ping"))["type"] == "ok"
    await asyncio.sleep(0)
