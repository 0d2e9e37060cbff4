"""A recess only holds students while a supervisor is connected: waiting, safe mode, the end."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from classroom.models import Room, RoomLogEntry

pytestmark = pytest.mark.django_db(transaction=True)


async def _room(recess: Room) -> Room:
    return await sync_to_async(Room.objects.get)(pk=recess.pk)


async def _no_room_update_for(socket, seconds: float) -> None:
    """Wait, then read everything that came meanwhile (a read that times out would kill the socket)."""
    await asyncio.sleep(seconds)
    assert (await socket.request("ping"))["type"] == "ok"
    assert [event for event in socket.seen if event["type"] == "room.updated"] == []


async def test_student_waits_for_a_supervisor_then_enters_by_itself(open_socket, enter, recess, supervisor, student):
    socket = await open_socket(student, recess)
    assert await socket.expect("waiting") == {"type": "waiting", "reason": "no_supervisor"}
    await enter(supervisor, recess)
    await socket.expect("admitted")
    state = await socket.expect("state")
    assert state["room"]["kind"] == "recess" and state["room"]["safe_mode"] is False


async def test_supervisor_sees_the_student_waiting_for_no_supervisor(open_socket, enter, recess, supervisor, student):
    socket = await open_socket(student, recess)
    await socket.expect("waiting")
    await enter(supervisor, recess)
    await socket.expect("state")
    log = await sync_to_async(list)(
        RoomLogEntry.objects.filter(room=recess, kind="admit").values_list("target_id", flat=True)
    )
    assert log == [student.pk]


async def test_student_of_another_class_is_refused_with_4403(
    open_socket, enter, recess, supervisor, other_class_student
):
    await enter(supervisor, recess)
    socket = await open_socket(other_class_student, recess)
    assert await socket.closed() == 4403


async def test_teacher_is_refused_with_4403(open_socket, enter, recess, supervisor, teacher):
    await enter(supervisor, recess)
    socket = await open_socket(teacher, recess)
    assert await socket.closed() == 4403


async def test_anonymous_socket_is_closed_with_4401(open_socket, recess):
    socket = await open_socket(None, recess)
    assert await socket.closed() == 4401


async def test_silent_supervisor_puts_the_room_in_safe_mode_within_5_seconds(
    enter, recess, supervisor, student, alive, forwarder
):
    supervisor_socket = await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    # The supervisor's network drops: no frame, no close frame, from this moment on.
    last_frame = time.monotonic()
    await supervisor_socket.send({"type": "ping"})
    updated = await socket.expect("room.updated", timeout=6)
    delay = time.monotonic() - last_frame
    print(f"safe mode {delay:.2f} s after the supervisor's last frame")
    assert updated["room"]["safe_mode"] is True
    assert delay < 5
    assert await supervisor_socket.closed() == 4408


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_safe_mode_stops_every_students_media_at_the_forwarder(
    enter, recess, supervisor, student, student2, alive, forwarder, settings
):
    settings.RECESS_HEARTBEAT_SECONDS = 1
    await enter(supervisor, recess)
    sockets = [await enter(student, recess), await enter(student2, recess)]
    for socket in sockets:
        alive(socket)
    forwarder.clear()
    updated = await sockets[0].expect("room.updated", timeout=6)
    assert updated["room"]["safe_mode"] is True
    stopped = {call.user_id: call for call in forwarder if call.user_id in (str(student.pk), str(student2.pk))}
    assert set(stopped) == {str(student.pk), str(student2.pk)}
    for call in stopped.values():
        assert (call.audio, call.video, call.screen, call.always_forward) == (False, False, False, False)


@pytest.mark.embedded_only("reads the in-process forwarder's state")
async def test_safe_mode_state_is_held_by_the_real_forwarder(enter, recess, supervisor, student, alive, settings):
    from classroom import media

    settings.RECESS_HEARTBEAT_SECONDS = 1
    await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    peer = media.running_node()._rooms[str(recess.pk)].peers[str(student.pk)]
    assert peer.permissions.audio and peer.permissions.video
    assert (await socket.expect("room.updated", timeout=6))["room"]["safe_mode"] is True
    assert (peer.permissions.audio, peer.permissions.video, peer.permissions.screen) == (False, False, False)
    assert not any(media.running_node().live_sources(str(recess.pk), str(student.pk)).values())


async def test_safe_mode_locks_the_chat_for_students(enter, recess, supervisor, student, alive, settings):
    settings.RECESS_HEARTBEAT_SECONDS = 1
    await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    await socket.expect("room.updated", timeout=6)
    assert (await socket.request("chat.send", text="Il n'y a personne ?"))["code"] == "locked"


async def test_supervisor_closing_the_tab_puts_the_room_in_safe_mode(enter, recess, supervisor, student, alive):
    supervisor_socket = await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    closed_at = time.monotonic()
    await supervisor_socket.leave()
    updated = await socket.expect("room.updated", timeout=6)
    assert updated["room"]["safe_mode"] is True
    assert time.monotonic() - closed_at < 5
    assert (await _room(recess)).safe_mode is True


async def test_supervisor_reloading_the_page_does_not_trigger_safe_mode(enter, recess, supervisor, student, alive):
    supervisor_socket = await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    await supervisor_socket.leave()
    again = await enter(supervisor, recess)
    alive(again)
    await _no_room_update_for(socket, 4)
    room = await _room(recess)
    assert room.safe_mode is False and room.unsupervised_since is None


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_supervisor_coming_back_ends_safe_mode(enter, recess, supervisor, student, alive, forwarder, settings):
    settings.RECESS_HEARTBEAT_SECONDS = 1
    await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    assert (await socket.expect("room.updated", timeout=6))["room"]["safe_mode"] is True
    forwarder.clear()
    back = await enter(supervisor, recess)
    alive(back)
    assert (await socket.expect("room.updated"))["room"]["safe_mode"] is False
    allowed = [call for call in forwarder if call.user_id == str(student.pk)]
    assert allowed and allowed[-1].audio and allowed[-1].video
    assert (await socket.request("chat.send", text="Merci"))["type"] == "ok"


@pytest.mark.embedded_only("shortens RECESS_GRACE_SECONDS and RECESS_SAFE_MODE_SECONDS in this process only")
async def test_recess_ends_with_no_supervisor_after_the_grace_period(
    enter, recess, supervisor, student, alive, settings
):
    settings.RECESS_GRACE_SECONDS = 2
    settings.RECESS_SAFE_MODE_SECONDS = 1
    supervisor_socket = await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    await supervisor_socket.leave()
    assert (await socket.expect("room.updated", timeout=3))["room"]["safe_mode"] is True
    assert await socket.expect("room.ended", timeout=4) == {"type": "room.ended", "reason": "no_supervisor"}
    assert await socket.closed() == 4409
    assert (await _room(recess)).end_reason == "no_supervisor"


async def test_one_of_two_supervisors_leaving_changes_nothing(enter, recess, supervisor, admin, student, alive):
    first = await enter(supervisor, recess)
    second = await enter(admin, recess)
    alive(second)
    socket = await enter(student, recess)
    alive(socket)
    await first.leave()
    await socket.expect("participant.left")
    await _no_room_update_for(socket, 4)
    room = await _room(recess)
    assert room.safe_mode is False and room.unsupervised_since is None
    assert (await socket.request("chat.send", text="Bonjour"))["type"] == "ok"


async def test_student_who_left_during_safe_mode_waits_to_come_back(
    open_socket, enter, recess, supervisor, student, alive, settings
):
    settings.RECESS_HEARTBEAT_SECONDS = 1
    await enter(supervisor, recess)
    socket = await enter(student, recess)
    alive(socket)
    await socket.expect("room.updated", timeout=6)
    await socket.leave()
    again = await open_socket(student, recess)
    assert await again.expect("waiting") == {"type": "waiting", "reason": "no_supervisor"}


@pytest.mark.embedded_only("shortens RECESS_HEARTBEAT_SECONDS in this process only")
async def test_a_silent_student_socket_is_closed_too(enter, recess, supervisor, student, alive, settings):
    settings.RECESS_HEARTBEAT_SECONDS = 1
    supervisor_socket = await enter(supervisor, recess)
    alive(supervisor_socket)
    socket = await enter(student, recess)
    assert await socket.closed(timeout=3) == 4408
    left = await supervisor_socket.expect("participant.left")
    assert left["id"] == str(student.pk)


async def test_supervisor_may_end_the_recess(enter, recess, supervisor, student):
    supervisor_socket = await enter(supervisor, recess)
    socket = await enter(student, recess)
    assert (await supervisor_socket.request("room.end"))["type"] == "ok"
    assert (await socket.expect("room.ended"))["reason"] == "ended"
