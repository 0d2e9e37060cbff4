"""The room socket drives the real in-process forwarder (classroom/media.py -> media_server)."""

from __future__ import annotations

import pytest

from classroom import media

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.embedded_only(
        "reads the in-process forwarder's peers and owners; tests/media_cluster drives media through node processes"
    ),
]


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
    assert (
        media.running_node() is None
        or str(lesson.pk) not in media.running_node()._rooms
        or str(other_class_student.pk) not in media.running_node()._rooms[str(lesson.pk)].peers
    )


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


# --- One tab owns the media: the last that sent media.join ---------------------------------


async def nothing_of(socket, kind, wait=0.3):  # type: ignore[no-untyped-def]
    """No event of this type within `wait` s (without `Socket.quiet`, whose timeout ends the socket)."""
    while not await socket.communicator.receive_nothing(wait):
        event = await socket.receive()
        assert event["type"] != kind, event


async def two_tabs(enter, lesson, user):  # type: ignore[no-untyped-def]
    """Two sockets of one user in the lesson; the first joined media and got its offer."""
    first = await enter(user, lesson)
    second = await enter(user, lesson)
    await join_media(first, 1)
    await first.expect("media.offer")
    return first, second


async def join_media(socket, ref):  # type: ignore[no-untyped-def]
    await socket.send({"type": "media.join", "quality": "low", "ref": ref})
    assert (await socket.expect("ok"))["ref"] == ref


async def test_a_second_tab_takes_the_media_and_the_first_is_told(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    first = await enter(teacher, lesson)
    second = await enter(teacher, lesson)
    await join_media(first, 1)
    await first.expect("media.joined")
    await first.expect("media.offer")
    await nothing_of(second, "media.offer")

    await join_media(second, 2)
    await second.expect("media.joined")
    assert (await second.expect("media.offer"))["sdp"].startswith("v=0")
    moved = await first.expect("media.moved")
    assert moved == {"type": "media.moved", "reason": "other_tab"}
    await nothing_of(first, "media.offer")

    # the node's later offers (a subscribe restart) reach the owner only
    assert (await second.request("media.restart", pc="subscribe"))["type"] == "ok"
    assert (await second.expect("media.offer"))["restart"] is True
    await nothing_of(first, "media.offer")


async def test_the_tab_that_lost_the_media_is_refused_with_conflict(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    first = await enter(teacher, lesson)
    second = await enter(teacher, lesson)
    await join_media(first, 1)
    offer = await first.expect("media.offer")
    await join_media(second, 2)
    await first.expect("media.moved")
    for message in (
        {"pc": "subscribe", "sdp": offer["sdp"]},
        {"type": "media.restart", "pc": "subscribe"},
        {"type": "media.leave"},
    ):
        kind = message.pop("type", "media.answer")
        refused = await first.request(kind, **message)
        assert refused["type"] == "error" and refused["code"] == "conflict", refused
    # the owner's media is untouched, and the first tab takes it back with media.join
    peer = media.running_node()._rooms[str(lesson.pk)].peers[str(teacher.pk)]
    assert peer.subscriber is not None
    await join_media(first, 3)
    await first.expect("media.offer")
    await second.expect("media.moved")
    assert (await second.request("media.quality", quality="audio"))["code"] == "conflict"
    assert (await first.request("media.quality", quality="audio"))["type"] == "ok"


async def test_a_socket_that_never_joined_media_is_refused(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    socket = await enter(teacher, lesson)
    assert (await socket.request("media.restart", pc="subscribe"))["code"] == "conflict"


async def test_an_unknown_media_type_is_invalid_whoever_owns_the_media(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    socket = await enter(teacher, lesson)
    # before this socket joined the media (so not its owner), and after
    refused = await socket.request("media.foo")
    assert refused["code"] == "invalid" and "media.foo" in refused["message"], refused
    await socket.send({"type": "media.join", "quality": "low", "ref": 1})
    assert (await socket.expect("ok"))["ref"] == 1
    assert (await socket.request("media.foo"))["code"] == "invalid"


async def test_a_refused_join_takes_nothing_over(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    first, second = await two_tabs(enter, lesson, teacher)
    assert (await second.request("media.join", quality="ultra"))["code"] == "invalid"
    await nothing_of(first, "media.moved")
    assert (await first.request("media.quality", quality="audio"))["type"] == "ok"


async def test_the_owner_closing_frees_the_media_for_the_other_tab(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    first, second = await two_tabs(enter, lesson, teacher)
    await first.leave()
    assert (str(lesson.pk), str(teacher.pk)) not in media._local_owners()
    # the other tab is told, so that a page showing "in another tab" takes the media back
    assert await second.expect("media.released") == {"type": "media.released", "reason": "owner_left"}
    # the user is still in the room (another socket): their media peer stays until a new join
    assert str(teacher.pk) in media.running_node()._rooms[str(lesson.pk)].peers
    await join_media(second, 2)
    await second.expect("media.offer")


async def test_a_socket_that_did_not_own_the_media_closes_quietly(enter, lesson, teacher):  # type: ignore[no-untyped-def]
    first, second = await two_tabs(enter, lesson, teacher)
    await second.leave()
    await nothing_of(first, "media.released")
    assert media._local_owners()[(str(lesson.pk), str(teacher.pk))]
