"""Entering and leaving a room: sockets, the waiting room, admission, denial and removal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User

from .. import events
from .. import protocol as p
from ..closecodes import CloseCode
from ..models import ChatMessage, Participant, Poll, PollVote, Room, RoomLogEntry
from ..permissions import (
    Actor,
    Refused,
    check_may_send,
    is_room_moderator,
    is_room_student,
    is_supervising,
    may_knock,
)
from . import recess, serialize
from .common import admit, broadcast_hands, broadcast_waiting, close_stay, log, open_stay, target
from .groups import clear_help
from .lifecycle import end_if_expired
from .timer import timer_object

CHAT_HISTORY = 50

StatePart = Callable[[Room, User], dict[str, Any]]
_state_parts: list[StatePart] = []


def add_state_part(part: StatePart) -> None:
    """Add fields of `state` from an app beside the classroom (slides: `decks`, `slides`), at start."""
    _state_parts.append(part)


@dataclass(frozen=True)
class Entry:
    """The outcome of opening a socket: admitted, waiting (with a reason), or closed (with a code)."""

    outcome: str
    moderator: bool = False
    reason: str = ""
    close_code: int = 0
    closes_at: str | None = None
    recess: bool = False
    # When this process should run `recess.check_recess` for the room next.
    check_at: datetime | None = None
    # The moderators' waiting list changed (sent coalesced: `classroom.notices`).
    waiting_changed: bool = False
    # Older sockets of this user in the room, over ROOM_SOCKETS_PER_USER, that must close (4410).
    evicted: tuple[str, ...] = ()
    # A moderator listening in silently to a group (`do_connect`'s `listen`).
    listening: bool = False


@dataclass(frozen=True)
class Leaving:
    """The outcome of closing a socket."""

    # For a recess that lost its last supervisor: when to run `recess.do_check_recess`.
    check_at: datetime | None = None
    waiting_changed: bool = False


@transaction.atomic
def do_connect(room_id: str, user: User, channel: str = "", listen: bool = False) -> Entry:
    """Count a new socket of this user in the room and decide where it goes.

    `channel` is the socket's channel name: the user's sockets in the room are kept oldest first,
    and those over `ROOM_SOCKETS_PER_USER` are counted out here and returned in `evicted`.
    `listen`: a moderator of a group listens in silently (`Participant.listening`); it is decided
    by the user's first socket in the room, and means nothing elsewhere or for anyone else.
    """
    room = Room.objects.select_for_update(of=("self",)).select_related("school_class").filter(pk=room_id).first()
    if room is None:
        return Entry("closed", close_code=CloseCode.NOT_FOUND)
    end_if_expired(room)
    is_recess = room.kind == Room.Kind.RECESS
    check_at = recess.check_recess(room) if is_recess else None
    if room.ended_at is not None:
        return Entry("closed", close_code=CloseCode.ENDED)
    if not may_knock(user, room):
        return Entry("closed", close_code=CloseCode.FORBIDDEN)
    moderator = is_room_moderator(user, room)
    participant, _created = Participant.objects.select_for_update().get_or_create(
        room=room, user=user, defaults={"status": Participant.Status.WAITING}
    )
    if participant.status in (Participant.Status.REMOVED, Participant.Status.DENIED):
        return Entry("closed", close_code=CloseCode.FORBIDDEN)
    reason = "" if moderator else _wait_reason(room, user)
    if participant.status == Participant.Status.WAITING or (
        # A recess student who left comes back only while it is open and supervised.
        is_recess and reason and participant.connections == 0
    ):
        participant.status = Participant.Status.WAITING if reason else Participant.Status.ADMITTED
        participant.waiting_reason = reason
    evicted: list[str] = []
    if channel:
        sockets = [*participant.sockets, channel]
        keep = max(1, settings.ROOM_SOCKETS_PER_USER)
        evicted, participant.sockets = sockets[:-keep], sockets[-keep:]
    if participant.connections - len(evicted) <= 0:
        participant.listening = listen and moderator and room.kind == Room.Kind.GROUP
    participant.connections = F("connections") + 1 - len(evicted)
    participant.save()
    participant.refresh_from_db()
    participant.user = user  # the refresh forgot it: spare a query
    if is_recess and moderator and participant.connections == 1:
        recess.supervisor_arrived(room, user)
        check_at = None
    if moderator and room.closes_at is not None:
        # A moderator came back to a lesson left open: it no longer ends by itself.
        room.closes_at = None
        room.save(update_fields=["closes_at"])
        events.send_event_on_commit(events.room_group(room.pk), p.RoomUpdated(room=serialize.room_object(room)))
    if participant.status == Participant.Status.WAITING:
        return Entry(
            "waiting",
            reason=participant.waiting_reason,
            recess=is_recess,
            check_at=check_at,
            waiting_changed=participant.connections == 1,
            evicted=tuple(evicted),
        )
    if participant.connections == 1:
        open_stay(room, participant)
    if moderator and room.kind == Room.Kind.GROUP and not participant.listening:
        # a teacher came into the group: its call for help is answered
        clear_help(room)
    return Entry(
        "admitted",
        moderator=moderator,
        closes_at=serialize.iso(room.closes_at),
        recess=is_recess,
        check_at=check_at,
        evicted=tuple(evicted),
        listening=participant.listening,
    )


def _wait_reason(room: Room, user: User) -> str:
    """Why this user (not a moderator) waits before entering, or "" if they come straight in."""
    if not is_room_student(user, room):
        return Participant.WaitingReason.NOT_IN_CLASS
    if room.kind == Room.Kind.RECESS:
        return recess.student_wait_reason(room)
    return Participant.WaitingReason.LOCKED if room.locked else ""


@transaction.atomic
def do_disconnect(room_id: str, user: User, at: datetime | None = None, channel: str = "") -> Leaving:
    """Count a closed socket; the last one of a user ends their stay or their wait.

    `at` is when the socket went silent, if earlier than now. A socket (`channel`) that was
    already counted out (evicted, removed, denied, room ended) is not counted twice.
    """
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    participant = Participant.objects.select_for_update().filter(room_id=room_id, user=user).first()
    if room is None or participant is None or participant.connections == 0:
        return Leaving()
    if channel:
        if channel not in participant.sockets:
            return Leaving()
        participant.sockets = [name for name in participant.sockets if name != channel]
    participant.connections = F("connections") - 1
    participant.save(update_fields=["connections", "sockets", "updated_at"])
    participant.refresh_from_db()
    if participant.connections > 0 or room.ended_at is not None:
        return Leaving()
    if participant.status == Participant.Status.ADMITTED:
        close_stay(room, participant)
        if room.kind == Room.Kind.RECESS and is_supervising(user):
            return Leaving(check_at=recess.supervisor_left(room, at or timezone.now()))
    elif participant.status == Participant.Status.WAITING:
        return Leaving(waiting_changed=True)
    return Leaving()


def state_in(room: Room, user: User, moderator: bool) -> dict[str, Any]:
    """The `state` event for this user in a room read with its class: everything a freshly
    (re)connected client needs (the socket reads the room and this in one database turn)."""
    me = Participant.objects.select_related("user").get(room=room, user=user)
    present = serialize.present_participants(room)
    chat = (
        ChatMessage.objects.filter(room=room, deleted_at__isnull=True)
        .filter(Q(recipient__isnull=True) | Q(sender=user) | Q(recipient=user))
        .select_related("sender")
        .order_by("-created_at", "-pk")[:CHAT_HISTORY]
    )
    mine = dict(PollVote.objects.filter(poll__room=room, user=user).values_list("poll_id", "choices"))
    all_polls = list(Poll.objects.filter(room=room))
    shown = [poll for poll in all_polls if moderator or poll.status == Poll.Status.PUBLISHED]
    # Every poll's votes in one query rather than one per poll.
    votes = serialize.poll_votes(shown, named=moderator and any(not poll.anonymous for poll in shown))
    polls = [
        serialize.poll_object(
            poll,
            results=poll.pk in votes,
            named=moderator,
            mine=mine.get(poll.pk),
            votes=votes.get(poll.pk),
        )
        for poll in all_polls
    ]
    state = p.State(
        room=serialize.room_object(room),
        you=serialize.participant_object(me, moderator),
        participants=serialize.participant_objects(room, present),
        hands=serialize.hands_of(present),
        polls=polls,
        chat=[serialize.chat_object(message) for message in reversed(list(chat))],
        timer=timer_object(room),
        waiting=serialize.waiting_objects(room) if moderator else None,
        **{name: value for part in _state_parts for name, value in part(room, user).items()},
    )
    return p.dump(state)


@transaction.atomic
def do_admit(actor: Actor, message: p.WaitingAdmit) -> None:
    check_may_send(actor, message.type)
    participant = target(actor.room, message.id, status=Participant.Status.WAITING)
    admit(actor.room, actor.user, participant)
    broadcast_waiting(actor.room)


@transaction.atomic
def do_admit_all(actor: Actor, message: p.WaitingAdmitAll) -> p.AdmittedAll:
    check_may_send(actor, message.type)
    waiting = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=actor.room, status=Participant.Status.WAITING, connections__gt=0)
    )
    admitted = [str(participant.user_id) for participant in waiting]
    for participant in waiting:
        admit(actor.room, actor.user, participant)
    broadcast_waiting(actor.room)
    return p.AdmittedAll(admitted=admitted)


def admit_locked_students(room: Room, actor: User) -> None:
    """Once the room is unlocked, students who waited only because of the lock come in."""
    waiting = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=room, status=Participant.Status.WAITING, waiting_reason=Participant.WaitingReason.LOCKED)
    )
    for participant in waiting:
        admit(room, actor, participant)
    broadcast_waiting(room)


@transaction.atomic
def do_deny(actor: Actor, message: p.WaitingDeny) -> None:
    check_may_send(actor, message.type)
    participant = target(actor.room, message.id, status=Participant.Status.WAITING)
    participant.status = Participant.Status.DENIED
    participant.connections = 0
    participant.sockets = []
    participant.save(update_fields=["status", "connections", "sockets", "updated_at"])
    log(actor.room, RoomLogEntry.Kind.DENY, actor=actor.user, target=participant.user)
    events.send_control_on_commit(
        events.user_group(actor.room.pk, participant.user_id), "refused", code=CloseCode.FORBIDDEN, event="denied"
    )
    broadcast_waiting(actor.room)


@transaction.atomic
def do_remove(actor: Actor, message: p.ParticipantRemove) -> None:
    """Remove a participant for good: their sockets close with 4403 and they cannot come back."""
    check_may_send(actor, message.type)
    room = actor.room
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=room, user_id=int(message.id))
        .exclude(status=Participant.Status.REMOVED)
        .first()
    )
    if participant is None:
        raise Refused("not_found", "No such participant here.")
    if participant.user_id == actor.user.pk or is_room_moderator(participant.user, room):
        raise Refused("forbidden", "A moderator cannot be removed.")
    was_present = participant.present
    was_waiting = participant.status == Participant.Status.WAITING
    had_hand = participant.hand_raised_at is not None
    participant.status = Participant.Status.REMOVED
    participant.connections = 0
    participant.sockets = []
    participant.presenter = False
    participant.hand_raised_at = None
    participant.save(update_fields=["status", "connections", "sockets", "presenter", "hand_raised_at", "updated_at"])
    log(room, RoomLogEntry.Kind.REMOVAL, actor=actor.user, target=participant.user)
    events.send_control_on_commit(events.user_group(room.pk, participant.user_id), "refused", code=CloseCode.FORBIDDEN)
    if was_present:
        close_stay(room, participant)
    if was_waiting:
        broadcast_waiting(room)
    if had_hand:
        broadcast_hands(room)
