"""The lesson timer: a moderator starts it for some minutes, everyone sees it count down.

It is kept on the room, so a late joiner or a reconnect finds it in `state`; once run out it
stays (showing that time is up) until a moderator stops it or starts another.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import events
from .. import protocol as p
from ..models import Room
from ..permissions import Actor, Refused, check_may_send
from . import serialize
from .lifecycle import seconds_per_minute


def timer_object(room: Room) -> p.TimerObject | None:
    """The room's timer as it stands now, or None."""
    if room.timer_ends_at is None or room.timer_started_at is None:
        return None
    left = (room.timer_ends_at - timezone.now()).total_seconds()
    return p.TimerObject(
        ends_at=serialize.iso(room.timer_ends_at) or "",
        seconds=round((room.timer_ends_at - room.timer_started_at).total_seconds()),
        remaining=max(0, round(left)),
    )


@transaction.atomic
def do_timer_start(actor: Actor, message: p.TimerStart) -> p.TimerShown:
    """Start (or restart) the timer for `minutes`: `timer` to every admitted socket."""
    check_may_send(actor, message.type)
    room = Room.objects.select_for_update().get(pk=actor.room.pk)
    room.timer_started_at = timezone.now()
    room.timer_ends_at = room.timer_started_at + timedelta(seconds=message.minutes * seconds_per_minute())
    room.save(update_fields=["timer_started_at", "timer_ends_at"])
    timer = timer_object(room)
    assert timer is not None
    events.send_event_on_commit(events.room_group(room.pk), p.TimerEvent(timer=timer))
    return p.TimerShown(timer=timer)


@transaction.atomic
def do_timer_stop(actor: Actor, message: p.TimerStop) -> None:
    """Stop the timer, running or run out: `timer` null to every admitted socket."""
    check_may_send(actor, message.type)
    room = Room.objects.select_for_update().get(pk=actor.room.pk)
    if room.timer_ends_at is None:
        raise Refused("conflict", "No timer is shown.")
    room.timer_started_at = None
    room.timer_ends_at = None
    room.save(update_fields=["timer_started_at", "timer_ends_at"])
    events.send_event_on_commit(events.room_group(room.pk), p.TimerEvent(timer=None))
