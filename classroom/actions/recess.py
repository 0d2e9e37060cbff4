"""Supervised recess: creation, schedule, supervisors coming and going, safe mode, the log's purge.

The database is the truth: `Room.unsupervised_since` says since when no supervisor holds a socket.
`check_recess` turns that into safe mode (after RECESS_SAFE_MODE_SECONDS) and into the end of the
room (after RECESS_GRACE_SECONDS); the process that saw the last supervisor go runs it on time,
a socket opening runs it, and so does the periodic sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User

from .. import events
from .. import protocol as p
from ..models import Participant, RecessSlot, Report, Room, RoomLogEntry, SchoolClass
from ..permissions import SUPERVISING_ROLES
from . import serialize
from .common import admit, broadcast_participant, broadcast_waiting, close_stay, log, push_permissions
from .lifecycle import end_room


def safe_mode_seconds() -> float:
    return float(settings.RECESS_SAFE_MODE_SECONDS)


def grace_seconds() -> float:
    return float(settings.RECESS_GRACE_SECONDS)


def heartbeat_seconds() -> float:
    return float(settings.RECESS_HEARTBEAT_SECONDS)


@dataclass(frozen=True)
class Slot:
    """A weekly window: `weekday` 0 is Monday; local times."""

    weekday: int
    starts_at: time
    ends_at: time


# --- creation ----------------------------------------------------------------------------


@transaction.atomic
def do_create_recess(creator: User, title: str, classes: Iterable[SchoolClass], slots: Iterable[Slot] = ()) -> Room:
    """Create a recess for these classes, open now, or during its weekly slots only."""
    room = Room.objects.create(kind=Room.Kind.RECESS, title=title.strip()[:200], created_by=creator)
    room.classes.set(list(classes))
    RecessSlot.objects.bulk_create(
        RecessSlot(room=room, weekday=slot.weekday, starts_at=slot.starts_at, ends_at=slot.ends_at) for slot in slots
    )
    if not room.slots.exists():
        # Nobody supervises it yet: without a supervisor coming, it ends after the grace period.
        room.unsupervised_since = timezone.now()
        room.save(update_fields=["unsupervised_since"])
    return room


# --- who is here, and is it open ------------------------------------------------------------


def in_session(room: Room, now: datetime | None = None) -> bool:
    """Whether students may be in the recess now: always without a schedule, else in a slot."""
    slots = list(room.slots.all())
    if not slots:
        return True
    local = timezone.localtime(now or timezone.now())
    return any(s.weekday == local.weekday() and s.starts_at <= local.time() < s.ends_at for s in slots)


def supervisor_present(room: Room) -> bool:
    return Participant.objects.filter(
        room=room, status=Participant.Status.ADMITTED, connections__gt=0, user__role__in=SUPERVISING_ROLES
    ).exists()


def student_wait_reason(room: Room) -> str:
    """Why a student of the recess cannot come in now, or "" if they may."""
    if not in_session(room):
        return Participant.WaitingReason.CLOSED
    if not supervisor_present(room):
        return Participant.WaitingReason.NO_SUPERVISOR
    if room.locked:
        return Participant.WaitingReason.LOCKED
    return ""


def _present_students(room: Room) -> list[Participant]:
    return list(
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=room, status=Participant.Status.ADMITTED, connections__gt=0)
        .exclude(user__role__in=SUPERVISING_ROLES)
    )


def _room_updated(room: Room) -> None:
    events.send_event_on_commit(events.room_group(room.pk), p.RoomUpdated(room=serialize.room_object(room)))


# --- supervisors coming and going -------------------------------------------------------------


def supervisor_arrived(room: Room, supervisor: User | None) -> None:
    """A supervisor is present again (row locked): end safe mode, let waiting students in."""
    was_safe = room.safe_mode
    if room.unsupervised_since is not None or was_safe:
        room.unsupervised_since = None
        room.safe_mode = False
        room.save(update_fields=["unsupervised_since", "safe_mode"])
    if was_safe:
        log(room, RoomLogEntry.Kind.SAFE_MODE, actor=supervisor, on=False)
        _room_updated(room)
        for participant in _present_students(room):
            push_permissions(room, participant)
    if in_session(room):
        waiting = (
            Participant.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(
                room=room,
                status=Participant.Status.WAITING,
                connections__gt=0,
                waiting_reason__in=[Participant.WaitingReason.NO_SUPERVISOR, Participant.WaitingReason.CLOSED],
            )
        )
        if room.locked:
            waiting = waiting.none()
        admitted = list(waiting)
        for participant in admitted:
            admit(room, supervisor, participant)
        if admitted:
            broadcast_waiting(room)


def supervisor_left(room: Room, at: datetime) -> datetime | None:
    """A supervisor's last socket closed (row locked); returns when to check the room next."""
    if room.unsupervised_since is not None or supervisor_present(room) or not in_session(room):
        return None
    room.unsupervised_since = at
    room.save(update_fields=["unsupervised_since"])
    return at + timedelta(seconds=safe_mode_seconds())


def enter_safe_mode(room: Room) -> None:
    """No supervisor: stop every student's media at the forwarder and lock the chat for students."""
    room.safe_mode = True
    room.save(update_fields=["safe_mode"])
    log(room, RoomLogEntry.Kind.SAFE_MODE, on=True)
    # The forwarder stops first; the room then learns why.
    for participant in _present_students(room):
        push_permissions(room, participant)
        if participant.audio or participant.video or participant.screen:
            participant.audio = participant.video = participant.screen = False
            participant.save(update_fields=["audio", "video", "screen", "updated_at"])
            broadcast_participant(room, participant, p.ParticipantUpdated)
    _room_updated(room)


def check_recess(room: Room) -> datetime | None:
    """Apply safe mode or the end of an unsupervised recess (row locked); returns the next check."""
    if room.kind != Room.Kind.RECESS or room.ended_at is not None or room.unsupervised_since is None:
        return None
    if supervisor_present(room):
        room.unsupervised_since = None
        room.save(update_fields=["unsupervised_since"])
        return None
    now = timezone.now()
    end_at = room.unsupervised_since + timedelta(seconds=grace_seconds())
    if now >= end_at:
        end_room(room, Room.EndReason.NO_SUPERVISOR)
        return None
    safe_at = room.unsupervised_since + timedelta(seconds=safe_mode_seconds())
    if now < safe_at:
        return safe_at
    if not room.safe_mode:
        enter_safe_mode(room)
    return end_at


@transaction.atomic
def do_check_recess(room_id: str) -> datetime | None:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    return None if room is None else check_recess(room)


# --- the schedule -----------------------------------------------------------------------------


def follow_schedule(room: Room) -> None:
    """Open or close a scheduled recess to its students (row locked), as its slots say now."""
    if not room.slots.exists():
        return
    if in_session(room):
        if supervisor_present(room):
            if _has_waiting(room):
                supervisor_arrived(room, None)
            return
        reason = Participant.WaitingReason.NO_SUPERVISOR
        stale = Participant.WaitingReason.CLOSED
    else:
        _close_session(room)
        reason = Participant.WaitingReason.CLOSED
        stale = Participant.WaitingReason.NO_SUPERVISOR
    for participant in Participant.objects.filter(
        room=room, status=Participant.Status.WAITING, waiting_reason=stale
    ).select_for_update():
        participant.waiting_reason = reason
        participant.save(update_fields=["waiting_reason", "updated_at"])
        if participant.connections > 0:
            events.send_event_on_commit(events.user_group(room.pk, participant.user_id), p.Waiting(reason=reason))  # type: ignore[arg-type]
    broadcast_waiting(room)


def _has_waiting(room: Room) -> bool:
    return room.participants.filter(
        status=Participant.Status.WAITING,
        connections__gt=0,
        waiting_reason__in=[Participant.WaitingReason.NO_SUPERVISOR, Participant.WaitingReason.CLOSED],
    ).exists()


def _close_session(room: Room) -> None:
    """A slot is over: students go back to the waiting room until the next one."""
    if room.unsupervised_since is not None or room.safe_mode:
        room.unsupervised_since = None
        room.safe_mode = False
        room.save(update_fields=["unsupervised_since", "safe_mode"])
        _room_updated(room)
    students = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=room, status=Participant.Status.ADMITTED)
        .exclude(user__role__in=SUPERVISING_ROLES)
    )
    for participant in students:
        was_present = participant.connections > 0
        participant.status = Participant.Status.WAITING
        participant.waiting_reason = Participant.WaitingReason.CLOSED
        participant.save(update_fields=["status", "waiting_reason", "updated_at"])
        if was_present:
            close_stay(room, participant)
            events.send_control_on_commit(
                events.user_group(room.pk, participant.user_id), "waiting", reason=Participant.WaitingReason.CLOSED
            )


@transaction.atomic
def do_follow_schedule(room_id: str) -> None:
    room = Room.objects.select_for_update().filter(pk=room_id, ended_at__isnull=True).first()
    if room is not None:
        follow_schedule(room)


def do_check_recesses() -> None:
    """The periodic part: unsupervised recesses and schedules (sweep and Celery beat)."""
    live = Room.objects.filter(kind=Room.Kind.RECESS, ended_at__isnull=True)
    for room_id in list(live.filter(unsupervised_since__isnull=False).values_list("pk", flat=True)):
        do_check_recess(str(room_id))
    for room_id in list(live.filter(slots__isnull=False).distinct().values_list("pk", flat=True)):
        do_follow_schedule(str(room_id))


# --- the log's retention --------------------------------------------------------------------


def do_purge_recess_logs(now: datetime | None = None) -> int:
    """Delete recess log entries and reports older than RECESS_LOG_RETENTION_DAYS."""
    before = (now or timezone.now()) - timedelta(days=settings.RECESS_LOG_RETENTION_DAYS)
    entries, _ = RoomLogEntry.objects.filter(room__kind=Room.Kind.RECESS, at__lt=before).delete()
    reports, _ = Report.objects.filter(room__kind=Room.Kind.RECESS, created_at__lt=before).delete()
    return entries + reports
