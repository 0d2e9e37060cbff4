"""Ending a room: by a moderator, by the leave-open timer, or when found expired."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import events, media
from .. import protocol as p
from ..models import Attendance, Participant, Room, RoomLogEntry
from ..permissions import Actor, check_may_send
from . import serialize
from .common import log


def seconds_per_minute() -> float:
    """Length of a leave-open minute; tests shorten it."""
    return float(getattr(settings, "ROOM_LEAVE_OPEN_MINUTE_SECONDS", 60))


def end_room(room: Room, reason: str) -> None:
    """End a live room (row already locked): close attendance, tell every socket, stop media."""
    if room.ended_at is not None:
        return
    now = timezone.now()
    room.ended_at = now
    room.end_reason = reason
    room.closes_at = None
    room.save(update_fields=["ended_at", "end_reason", "closes_at"])
    if room.kind == Room.Kind.LESSON:
        # its breakout groups end with it
        for group in Room.objects.select_for_update().filter(parent=room, ended_at__isnull=True):
            end_room(group, reason)
    Attendance.objects.filter(room=room, left_at__isnull=True).update(left_at=now)
    Participant.objects.filter(room=room).update(connections=0, sockets=[], hand_raised_at=None)
    log(room, RoomLogEntry.Kind.ENDED, reason=reason)
    events.send_control_on_commit(events.everyone_group(room.pk), "ended", reason=reason)
    events.call_on_commit(media.room_closed, str(room.pk))


def end_if_expired(room: Room) -> bool:
    """End a lesson left open whose time is up (row already locked); True if it ended now."""
    if room.ended_at is None and room.closes_at is not None and room.closes_at <= timezone.now():
        end_room(room, Room.EndReason.TIMEOUT)
        return True
    return False


@transaction.atomic
def do_end_if_expired(room_id: str) -> bool:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    return room is not None and end_if_expired(room)


def do_end_expired_rooms() -> int:
    """End every lesson left open whose time is up; the periodic check."""
    due = Room.objects.filter(ended_at__isnull=True, closes_at__lte=timezone.now()).values_list("pk", flat=True)
    return sum(do_end_if_expired(str(room_id)) for room_id in list(due))


@transaction.atomic
def do_end(actor: Actor, message: p.RoomEnd) -> None:
    check_may_send(actor, message.type)
    room = Room.objects.select_for_update().get(pk=actor.room.pk)
    end_room(room, Room.EndReason.ENDED)


@transaction.atomic
def do_leave_open(actor: Actor, message: p.RoomLeaveOpen) -> p.LeftOpen:
    """The teacher leaves; the lesson goes on and ends by itself after `minutes`."""
    check_may_send(actor, message.type)
    room = Room.objects.select_for_update().get(pk=actor.room.pk)
    room.closes_at = timezone.now() + timedelta(seconds=message.minutes * seconds_per_minute())
    room.save(update_fields=["closes_at"])
    events.send_event_on_commit(events.room_group(room.pk), p.RoomUpdated(room=serialize.room_object(room)))
    events.send_control_on_commit(events.user_group(room.pk, actor.user.pk), "leave")
    return p.LeftOpen(closes_at=serialize.iso(room.closes_at))
