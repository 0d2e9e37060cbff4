"""The room socket drives the real in-process forwarder (classroom/media.py -> media_server)."""

from __future__ import annotations

import pytest

from classroom import media

pytestmark = pytest.mark.django_db(transaction=True)


def peer_permissions(room, user):  # type: ignore[no-untyped-def]
    node = media.running_node()
    assert node is not None, "the forwarder was never started"
    peer = node._rooms[str(room.pk)].peers[str(user.pk)]
    return peer.permissions


async def test_media_join_is_answered_by_the_forwarder(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    socket = await enter(teacher, lesson)
    await socket.send({"type": "media.join", "quality": "low", "ref": 7})
    assert (await socket.expect("ok"))["ref"] == 7
    joined = await socket.expect("media.joined")
    assert isinstance(joined["ice_servers"], list)
    offer = await socket.expect("media.offer")
    assert offer["sdp"].startswith("v=0")


async def test_invalid_media_message_is_refused_and_the_socket_stays_open(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    socket = await enter(teacher, lesson)
    await socket.send({"type": "media.join", "quality": "ultra", "ref": 1})
    error = await socket.expect("error")
    assert error["code"] == "invalid" and error["ref"] == 1
    await socket.send({"type": "ping", "ref": 2})
    assert (await socket.expect("ok"))["ref"] == 2


async def test_a_waiting_user_cannot_signal_media(enter, lesson, teacher, other_class_student):  # type: ignore[no-untyped-def]
    await enter(teacher, lesson)
    socket = await enter(other_class_student, lesson, until="waiting")
    await socket.send({"type": "media.join", "ref": 3})
    assert (await socket.expect("error"))["code"] == "forbidden"
    assert media.running_node() is None or str(lesson.pk) not in media.running_node()._rooms or str(
        other_class_student.pk
    ) not in media.running_node()._rooms[str(lesson.pk)].peers


async def test_mute_reaches_the_forwarder(enter, lesson, teacher, student):  # type: ignore[no-untyped-def]
    teacher_socket = await enter(teacher, lesson)
    await enter(student, lesson)
    before = peer_permissions(lesson, student)
    assert before.audio and before.video and not before.screen and not before.always_forward
    await teacher_socket.request("mute", id=str(student.pk), kind="audio")
    assert not peer_permissions(lesson, student).audio
    assert peer_permissions(lesson, student).video


async def test_teacher_is_always_forwarded(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    await enter(teacher, lesson)
    permissions = peer_permissions(lesson, teacher)
    assert permissions.always_forward and permissions.screen
