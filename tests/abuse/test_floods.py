# ruff: noqa: F811 - fixtures imported from tests/room, where their conftest defines them
"""Floods of frames, sockets and attention-seeking messages (issue 14, point 3)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from classroom.models import Participant
from tests.room.conftest import ConnectionClosed, Socket, enter, lesson, open_socket  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


async def _answers(socket: Socket, wait: float = 0.5) -> list[dict]:
    """Every reply that arrives until the socket has been quiet for `wait` seconds."""
    replies = []
    while True:
        # receive_nothing, not a timed-out receive: the test communicator cancels the consumer then
        if await socket.communicator.receive_nothing(wait):
            return replies
        event = await socket.receive()
        if event["type"] in ("ok", "error"):
            replies.append(event)


@pytest.mark.embedded_only("changes the limits of this process")
async def test_frames_over_the_rate_are_dropped_unread(enter, lesson, teacher, student, settings):
    settings.ROOM_FRAME_BURST = 10
    settings.ROOM_FRAMES_PER_SECOND = 1
    socket = await enter(student, lesson)
    for n in range(30):
        await socket.send({"type": "ping", "ref": n})
    # Garbage past the limit is never parsed: 20 invalid frames would otherwise close with 4400.
    for _ in range(20):
        await socket.communicator.send_to(text_data="not json")
    answered = await _answers(socket)
    assert 10 <= len(answered) < 30
    assert all(reply["type"] == "ok" for reply in answered)
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("hand.raise")
    assert (await socket.expect("hands"))["queue"] == [str(teacher.pk)]


@pytest.mark.embedded_only("changes the limits of this process")
async def test_the_frame_rate_is_per_user_not_per_socket(enter, lesson, teacher, student, settings):
    settings.ROOM_FRAME_BURST = 10
    settings.ROOM_FRAMES_PER_SECOND = 1
    first = await enter(student, lesson)
    second = await enter(student, lesson)
    teacher_socket = await enter(teacher, lesson)
    for n in range(10):
        await first.send({"type": "ping", "ref": n})
    assert len(await _answers(first)) >= 10
    for n in range(5):
        await second.send({"type": "ping", "ref": n})
    assert len(await _answers(second)) <= 1  # what refilled meanwhile, not another burst
    assert (await teacher_socket.request("ping"))["type"] == "ok"


@pytest.mark.embedded_only("changes the limits of this process")
async def test_a_socket_that_keeps_flooding_is_closed_with_4429(enter, lesson, teacher, student, settings):
    settings.ROOM_FRAME_BURST = 5
    settings.ROOM_FRAMES_PER_SECOND = 1
    settings.ROOM_FRAMES_DROPPED_BEFORE_CLOSE = 20
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    for n in range(100):
        try:
            await socket.send({"type": "ping", "ref": n})
        except Exception:  # closed under our feet
            break
    assert await socket.closed() == 4429
    await teacher_socket.expect("participant.left", id=str(student.pk))


@pytest.mark.embedded_only("changes the limits of this process")
async def test_a_fourth_socket_closes_the_oldest_with_4410(enter, lesson, student, settings):
    settings.ROOM_SOCKETS_PER_USER = 3
    sockets = [await enter(student, lesson) for _ in range(4)]
    assert await sockets[0].closed() == 4410
    for socket in sockets[1:]:
        assert (await socket.request("ping"))["type"] == "ok"
    participant = await sync_to_async(Participant.objects.get)(room=lesson, user=student)
    assert participant.connections == 3
    for socket in sockets[1:]:
        await socket.leave()
    participant = await sync_to_async(Participant.objects.get)(room=lesson, user=student)
    assert (participant.connections, participant.sockets) == (0, [])


async def test_chat_limit_is_per_user_across_sockets(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    sockets = [await enter(student, lesson) for _ in range(3)]
    replies = [await socket.request("chat.send", text=f"spam {n}") for n in range(4) for socket in sockets]
    assert sum(reply["type"] == "ok" for reply in replies) == 5
    assert {reply["code"] for reply in replies if reply["type"] == "error"} == {"rate_limited"}
    assert (await teacher_socket.request("chat.send", text="calm down"))["type"] == "ok"


async def test_report_limit_is_per_user_across_sockets(enter, lesson, teacher, student):
    await enter(teacher, lesson)
    sockets = [await enter(student, lesson) for _ in range(3)]
    replies = [await socket.request("report", text="look") for _ in range(2) for socket in sockets]
    assert sum(reply["type"] == "ok" for reply in replies) == 3


async def test_hand_limit_is_per_user_across_sockets(enter, lesson, student):
    sockets = [await enter(student, lesson) for _ in range(3)]
    kinds = ["hand.raise", "hand.lower"] * 4
    replies = [await sockets[n % 3].request(kind) for n, kind in enumerate(kinds)]
    assert sum(reply["type"] == "ok" for reply in replies) == 5


@pytest.mark.embedded_only("changes the coalescing of this process")
async def test_an_outsider_reconnecting_in_a_loop_sends_one_waiting_update(
    open_socket, enter, lesson, teacher, other_class_student, settings
):
    settings.ROOM_WAITING_COALESCE_MS = 60_000
    teacher_socket = await enter(teacher, lesson)
    for _ in range(30):
        outsider = await open_socket(other_class_student, lesson)
        await outsider.expect("waiting")
        await outsider.leave()
    await teacher_socket.quiet("ping", wait=0.3)
    updates = [event for event in teacher_socket.seen if event["type"] == "waiting.updated"]
    assert len(updates) == 1
    assert [item["id"] for item in updates[0]["waiting"]] == [str(other_class_student.pk)]


@pytest.mark.embedded_only("changes the coalescing of this process")
async def test_the_last_waiting_update_of_a_loop_arrives(
    open_socket, enter, lesson, teacher, other_class_student, settings
):
    settings.ROOM_WAITING_COALESCE_MS = 200
    teacher_socket = await enter(teacher, lesson)
    for _ in range(10):
        outsider = await open_socket(other_class_student, lesson)
        await outsider.expect("waiting")
        await outsider.leave()
    await teacher_socket.expect("waiting.updated", waiting=[])
