"""Moderators' controls: room settings, presenter right, mute, removal, reports."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from classroom import media
from classroom.models import Participant, RoomLogEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def forwarder(monkeypatch):
    """Record what the room tells the media forwarder."""
    calls: list[tuple[str, tuple, dict]] = []

    def recorder(name):
        async def record(*args, **kwargs):
            calls.append((name, args, kwargs))

        return record

    for name in ("update_permissions", "participant_left", "room_closed", "handle_media_message"):
        monkeypatch.setattr(media, name, recorder(name))
    return calls


async def test_room_update_reaches_everyone(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("room.update", students_can={"video": False})
    updated = await socket.expect("room.updated")
    assert updated["room"]["students_can"] == {"audio": True, "video": False, "screen": False, "chat": True}


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_students_can_change_reaches_the_forwarder(enter, lesson, teacher, student, forwarder):
    teacher_socket = await enter(teacher, lesson)
    await enter(student, lesson)
    forwarder.clear()
    await teacher_socket.request("room.update", students_can={"audio": False})
    assert (
        "update_permissions",
        (str(lesson.pk), str(student.pk)),
        {"audio": False, "video": True, "screen": False, "always_forward": False},
    ) in forwarder


async def test_student_cannot_update_room(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("room.update", locked=True))["code"] == "forbidden"


async def test_room_update_with_unknown_permission_is_invalid(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    assert (await teacher_socket.request("room.update", students_can={"fly": True}))["code"] == "invalid"


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_presenter_set_updates_everyone_and_the_forwarder(enter, lesson, teacher, student, forwarder):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    reply = await teacher_socket.request("presenter.set", id=str(student.pk), presenter=True)
    assert reply["type"] == "ok"
    updated = await socket.expect("participant.updated")
    assert updated["participant"]["presenter"] is True
    assert (
        "update_permissions",
        (str(lesson.pk), str(student.pk)),
        {"audio": True, "video": True, "screen": True, "always_forward": True},
    ) in forwarder


async def test_reconnect_restores_presenter_right(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("presenter.set", id=str(student.pk), presenter=True)
    await socket.leave()
    again = await enter(student, lesson)
    assert again.seen[-1]["you"]["presenter"] is True


async def test_a_demoted_presenter_is_refused_on_the_next_message(enter, lesson, teacher, student):
    """Every message reads its sender's standing: no socket keeps a right the teacher took back."""
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    assert (await teacher_socket.request("presenter.set", id=str(student.pk), presenter=True))["type"] == "ok"
    # a presenter may hide the slides (none shown here: past the permission table, a conflict)
    assert (await socket.request("slides.hide"))["code"] == "conflict"
    assert (await teacher_socket.request("presenter.set", id=str(student.pk), presenter=False))["type"] == "ok"
    # sent at once, whether or not the socket has read the `participant.updated` that says so
    assert (await socket.request("slides.hide"))["code"] == "forbidden"


async def test_student_cannot_set_presenter(enter, lesson, student, student2):
    socket = await enter(student, lesson)
    await enter(student2, lesson)
    assert (await socket.request("presenter.set", id=str(student2.pk), presenter=True))["code"] == "forbidden"


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_mute_stops_forwarding_then_tells_the_target(enter, lesson, teacher, student, forwarder):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    forwarder.clear()
    assert (await teacher_socket.request("mute", id=str(student.pk), kind="audio"))["type"] == "ok"
    muted = await socket.expect("muted")
    assert muted == {"type": "muted", "kind": "audio", "by": {"id": str(teacher.pk), "name": "Marie Curie"}}
    assert forwarder[0] == (
        "update_permissions",
        (str(lesson.pk), str(student.pk)),
        {"audio": False, "video": True, "screen": False, "always_forward": False},
    )
    assert await sync_to_async(RoomLogEntry.objects.filter(kind="mute", target=student).exists)()


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_unmute_lets_the_participant_publish_again(enter, lesson, teacher, student, forwarder):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("mute", id=str(student.pk), kind="video")
    forwarder.clear()
    assert (await socket.request("unmute", kind="video"))["type"] == "ok"
    assert forwarder[-1][2]["video"] is True


async def test_mute_all_mutes_every_non_moderator(enter, lesson, teacher, student, student2, admin):
    teacher_socket = await enter(teacher, lesson)
    first = await enter(student, lesson)
    second = await enter(student2, lesson)
    admin_socket = await enter(admin, lesson)
    reply = await teacher_socket.request("mute.all", kind="audio")
    assert sorted(reply["muted"]) == sorted([str(student.pk), str(student2.pk)])
    await first.expect("muted", kind="audio")
    await second.expect("muted", kind="audio")
    await admin_socket.quiet("muted")


async def test_student_cannot_mute(enter, lesson, teacher, student):
    await enter(teacher, lesson)
    socket = await enter(student, lesson)
    assert (await socket.request("mute", id=str(teacher.pk), kind="audio"))["code"] == "forbidden"
    assert (await socket.request("mute.all", kind="audio"))["code"] == "forbidden"


async def test_mute_with_unknown_kind_is_invalid(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await enter(student, lesson)
    assert (await teacher_socket.request("mute", id=str(student.pk), kind="screen"))["code"] == "invalid"


async def test_removed_participant_is_closed_with_4403_and_cannot_return(enter, open_socket, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    second_tab = await enter(student, lesson)
    assert (await teacher_socket.request("participant.remove", id=str(student.pk)))["type"] == "ok"
    assert await socket.closed() == 4403
    assert await second_tab.closed() == 4403
    left = await teacher_socket.expect("participant.left")
    assert left["id"] == str(student.pk)
    again = await open_socket(student, lesson)
    assert await again.closed() == 4403
    participant = await sync_to_async(Participant.objects.get)(room=lesson, user=student)
    assert participant.status == "removed"
    assert await sync_to_async(RoomLogEntry.objects.filter(kind="removal", target=student).exists)()


async def test_student_cannot_remove(enter, lesson, student, student2):
    socket = await enter(student, lesson)
    await enter(student2, lesson)
    assert (await socket.request("participant.remove", id=str(student2.pk)))["code"] == "forbidden"


async def test_moderator_cannot_be_removed(enter, lesson, teacher, admin):
    teacher_socket = await enter(teacher, lesson)
    await enter(admin, lesson)
    assert (await teacher_socket.request("participant.remove", id=str(admin.pk)))["code"] == "forbidden"


async def test_report_reaches_moderators_only_and_the_log(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    other = await enter(student2, lesson)
    assert (await socket.request("report", text="On m'insulte"))["type"] == "ok"
    report = await teacher_socket.expect("report")
    assert report["from"] == {"id": str(student.pk), "name": "Léa Martin"}
    assert report["text"] == "On m'insulte"
    await other.quiet("report")
    assert await sync_to_async(RoomLogEntry.objects.filter(kind="report", actor=student).exists)()


async def test_moderator_cannot_report(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    assert (await teacher_socket.request("report", text="x"))["code"] == "forbidden"


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_media_message_of_admitted_participant_reaches_the_forwarder(enter, lesson, student, forwarder):
    socket = await enter(student, lesson)
    reply = await socket.request("media.offer", sdp="v=0")
    assert reply["type"] == "ok"
    name, args, _ = forwarder[-1]
    assert name == "handle_media_message"
    assert args[:2] == (str(lesson.pk), str(student.pk))
    assert args[2]["sdp"] == "v=0"


@pytest.mark.embedded_only("records the forwarder calls made in this process; the servers make them in theirs")
async def test_media_message_of_waiting_user_is_forbidden(enter, lesson, other_class_student, forwarder):
    socket = await enter(other_class_student, lesson, until="waiting")
    assert (await socket.request("media.offer", sdp="v=0"))["code"] == "forbidden"
    assert not [call for call in forwarder if call[0] == "handle_media_message"]
