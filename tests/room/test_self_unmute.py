"""A student muted by a moderator may unmute; the room's permissions stay the real control (docs/protocol.md, "Mute")."""

from __future__ import annotations

import pytest

from classroom import media

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def permissions(monkeypatch):  # type: ignore[no-untyped-def]
    """What the room tells the forwarder each participant may publish, in order."""
    calls: list[tuple[str, dict]] = []

    async def record(room_id, user_id, **allowed):  # type: ignore[no-untyped-def]
        calls.append((user_id, allowed))

    monkeypatch.setattr(media, "update_permissions", record)
    return calls


async def test_the_teachers_list_shows_the_mute_until_the_student_lifts_it(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("mute", id=str(student.pk), kind="audio")
    muted = await teacher_socket.expect("participant.updated")
    assert muted["participant"]["muted_audio"] is True
    await socket.expect("muted", kind="audio")
    assert (await socket.request("unmute", kind="audio"))["type"] == "ok"
    lifted = await teacher_socket.expect("participant.updated")
    assert (lifted["participant"]["id"], lifted["participant"]["muted_audio"]) == (str(student.pk), False)


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_unmuting_does_not_pass_the_rooms_lock_on_microphones(enter, lesson, teacher, student, permissions):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("room.update", students_can={"audio": False})
    await teacher_socket.request("mute", id=str(student.pk), kind="audio")
    permissions.clear()
    assert (await socket.request("unmute", kind="audio"))["type"] == "ok"
    assert permissions[-1] == (
        str(student.pk),
        {"audio": False, "video": True, "screen": False, "always_forward": False},
    )


async def test_unmuting_when_not_muted_is_a_conflict(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("unmute", kind="audio"))["code"] == "conflict"
