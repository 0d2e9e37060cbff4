"""A recess with a weekly schedule is open to its students only during its slots."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from classroom.actions.recess import Slot, do_create_recess, in_session
from classroom.models import RecessSlot, Room, SchoolClass
from classroom.tasks import end_expired_rooms

pytestmark = pytest.mark.django_db(transaction=True)

MONDAY = datetime(2026, 11, 30)  # a Monday


@pytest.fixture(autouse=True)
def _midday(settings):  # type: ignore[no-untyped-def]
    """Run where it is about noon, so that a slot around now never crosses midnight."""
    offset = 12 - datetime.now(UTC).hour
    settings.TIME_ZONE = f"Etc/GMT{-offset:+d}" if offset else "UTC"


def _at(day: datetime, hour: int, minute: int) -> datetime:
    return timezone.make_aware(day.replace(hour=hour, minute=minute))


def _scheduled(supervisor, *, open_now: bool) -> Room:
    """A recess of 6A with one slot today: around now, or over an hour ago."""
    now = timezone.localtime()
    start, end = (now - timedelta(minutes=5), now + timedelta(minutes=5))
    if not open_now:
        start, end = now - timedelta(hours=2), now - timedelta(hours=1)
    slot = Slot(weekday=now.weekday(), starts_at=start.time(), ends_at=end.time())
    return do_create_recess(supervisor, "Récré planifiée", [SchoolClass.objects.get(name="6A")], [slot])


def _close_slots(room: Room) -> None:
    past = timezone.localtime() - timedelta(hours=1)
    RecessSlot.objects.filter(room=room).update(starts_at=(past - timedelta(hours=1)).time(), ends_at=past.time())


def _open_slots(room: Room) -> None:
    now = timezone.localtime()
    RecessSlot.objects.filter(room=room).update(
        starts_at=(now - timedelta(minutes=5)).time(), ends_at=(now + timedelta(minutes=5)).time()
    )


def test_in_session_only_within_a_slot(supervisor):
    room = do_create_recess(
        supervisor, "Récré", [SchoolClass.objects.get(name="6A")], [Slot(0, time(10, 0), time(10, 15))]
    )
    assert in_session(room, _at(MONDAY, 10, 0))
    assert in_session(room, _at(MONDAY, 10, 14))
    assert not in_session(room, _at(MONDAY, 10, 15))
    assert not in_session(room, _at(MONDAY, 9, 59))
    assert not in_session(room, _at(MONDAY + timedelta(days=1), 10, 5))


def test_recess_without_schedule_is_always_in_session(recess):
    assert in_session(recess, _at(MONDAY, 3, 0))


@pytest.mark.embedded_only("sets TIME_ZONE in this process so that it is about noon; the servers keep theirs")
async def test_student_waits_outside_the_slots_even_with_a_supervisor(open_socket, enter, supervisor, student):
    room = await sync_to_async(_scheduled)(supervisor, open_now=False)
    await enter(supervisor, room)
    socket = await open_socket(student, room)
    assert await socket.expect("waiting") == {"type": "waiting", "reason": "closed"}


@pytest.mark.embedded_only("sets TIME_ZONE in this process so that it is about noon; the servers keep theirs")
async def test_student_enters_during_a_slot(enter, supervisor, student):
    room = await sync_to_async(_scheduled)(supervisor, open_now=True)
    await enter(supervisor, room)
    state = await enter(student, room)
    assert state.seen[-1]["type"] == "state"


@pytest.mark.embedded_only("sets TIME_ZONE in this process so that it is about noon; the servers keep theirs")
async def test_end_of_slot_sends_students_back_to_the_waiting_room(enter, supervisor, student, alive):
    room = await sync_to_async(_scheduled)(supervisor, open_now=True)
    supervisor_socket = await enter(supervisor, room)
    alive(supervisor_socket)
    socket = await enter(student, room)
    alive(socket)
    await sync_to_async(_close_slots)(room)
    await sync_to_async(end_expired_rooms.delay)()
    assert await socket.expect("waiting") == {"type": "waiting", "reason": "closed"}
    assert (await supervisor_socket.expect("participant.left"))["id"] == str(student.pk)
    assert (await socket.request("chat.send", text="encore là ?"))["code"] == "forbidden"


@pytest.mark.embedded_only("sets TIME_ZONE in this process so that it is about noon; the servers keep theirs")
async def test_start_of_slot_lets_waiting_students_in(open_socket, enter, supervisor, student, alive):
    room = await sync_to_async(_scheduled)(supervisor, open_now=False)
    supervisor_socket = await enter(supervisor, room)
    alive(supervisor_socket)
    socket = await open_socket(student, room)
    await socket.expect("waiting")
    alive(socket)
    await sync_to_async(_open_slots)(room)
    await sync_to_async(end_expired_rooms.delay)()
    await socket.expect("admitted")
    await socket.expect("state")


@pytest.mark.embedded_only("sets TIME_ZONE in this process so that it is about noon; the servers keep theirs")
async def test_supervisor_leaving_outside_the_slots_starts_no_safe_mode(enter, supervisor):
    room = await sync_to_async(_scheduled)(supervisor, open_now=False)
    supervisor_socket = await enter(supervisor, room)
    await supervisor_socket.leave()
    room = await sync_to_async(Room.objects.get)(pk=room.pk)
    assert room.unsupervised_since is None and room.safe_mode is False and room.ended_at is None
