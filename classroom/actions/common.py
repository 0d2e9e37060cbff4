"""Helpers shared by the room actions: loading the actor and a target, and common events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from accounts.models import User

from .. import events, media
from .. import protocol as p
from ..models import Attendance, Participant, Room, RoomLogEntry
from ..permissions import Actor, Refused, is_moderator_with, may_publish, team_ids
from . import serialize

# What handles one client message type: the actor and the parsed message in, the `ok` reply out
# (a `protocol.Ok`, or None for a plain one). The table is `dispatch.HANDLERS`.
Handler = Callable[[Actor, Any], p.Ok | None]


def load_actor(room_id: str, user: User, moderator: bool) -> Actor:
    """The actor for one message: the room and the user's standing in it, as they are now."""
    # One query in the common case (a participant): every message of every socket runs this.
    participant = Participant.objects.select_related("room__school_class").filter(room_id=room_id, user=user).first()
    room = participant.room if participant is not None else Room.objects.select_related("school_class").get(pk=room_id)
    admitted = participant is not None and participant.status == Participant.Status.ADMITTED
    return Actor(
        user=user,
        room=room,
        moderator=moderator,
        presenter=bool(participant and participant.presenter),
        admitted=admitted and room.ended_at is None,
    )


def target(room: Room, user_id: str, *, status: str = Participant.Status.ADMITTED) -> Participant:
    """A participant of the room with this status, locked for update, or `not_found`."""
    found = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=room, user_id=int(user_id), status=status)
        .first()
    )
    if found is None:
        raise Refused("not_found", "No such participant here.")
    return found


def is_moderator(room: Room, user: User) -> bool:
    return is_moderator_with(room, user, team_ids(room))


def log(room: Room, kind: str, /, actor: User | None = None, target: User | None = None, **data: object) -> None:
    RoomLogEntry.objects.create(room=room, kind=kind, actor=actor, target=target, data=data)


OVERVIEW = "overview"
"""The control that tells a lesson's moderator sockets its groups' overview changed (`classroom.group_live`)."""


def notify_overview(room: Room) -> None:
    """A group's people, hands or media changed: its lesson's moderators get a new `groups.overview`."""
    if room.kind == Room.Kind.GROUP and room.parent_id is not None:
        # it only makes them read the overview again: no need to send the turn's events first
        events.send_control_on_commit(events.moderators_group(room.parent_id), OVERVIEW, ordered=False)


def broadcast_participant(room: Room, participant: Participant, event: type[p.Event]) -> None:
    """`participant.joined` or `participant.updated` to the whole room (not for a silent listener)."""
    if participant.listening:
        return
    obj = serialize.participant_object(participant, is_moderator(room, participant.user))
    events.send_event_on_commit(events.room_group(room.pk), event(participant=obj))  # type: ignore[call-arg]
    notify_overview(room)


def broadcast_hands(room: Room, queue: list[str] | None = None) -> None:
    """The raised hands to the whole room: `queue` when the caller read it, else read here."""
    queue = serialize.hands_queue(room) if queue is None else queue
    events.send_event_on_commit(events.room_group(room.pk), p.Hands(queue=queue))
    notify_overview(room)


def broadcast_waiting(room: Room) -> None:
    events.send_event_on_commit(
        events.moderators_group(room.pk), p.WaitingUpdated(waiting=serialize.waiting_objects(room))
    )


def permissions_of(room: Room, participant: Participant) -> dict[str, bool]:
    """What the forwarder lets this participant publish: `audio`, `video`, `screen`, `always_forward`."""
    if participant.listening:
        return {"audio": False, "video": False, "screen": False, "always_forward": False}
    moderator = is_moderator(room, participant.user)
    allowed = may_publish(
        room,
        participant.user,
        moderator=moderator,
        presenter=participant.presenter,
        muted_audio=participant.muted_audio,
        muted_video=participant.muted_video,
    )
    return {**allowed, "always_forward": moderator or participant.presenter}


def push_permissions(room: Room, participant: Participant) -> None:
    """Tell the forwarder, after commit, what this participant may publish now."""
    events.call_on_commit(
        media.update_permissions, str(room.pk), str(participant.user_id), **permissions_of(room, participant)
    )


def admit(room: Room, actor: User | None, participant: Participant) -> None:
    """Let a waiting participant in; their open sockets enter the room."""
    participant.status = Participant.Status.ADMITTED
    participant.waiting_reason = ""
    participant.save(update_fields=["status", "waiting_reason", "updated_at"])
    log(room, RoomLogEntry.Kind.ADMIT, actor=actor, target=participant.user)
    events.send_control_on_commit(events.user_group(room.pk, participant.user_id), "admitted")
    if participant.connections > 0:
        open_stay(room, participant)


def open_stay(room: Room, participant: Participant) -> None:
    """A participant is now in the room: attendance, log, and everyone is told."""
    Attendance.objects.create(room=room, user=participant.user, joined_at=timezone.now())
    log(room, RoomLogEntry.Kind.JOIN, target=participant.user)
    broadcast_participant(room, participant, p.ParticipantJoined)
    if participant.hand_raised_at is not None:
        broadcast_hands(room)
    push_permissions(room, participant)


def close_stay(room: Room, participant: Participant) -> None:
    """A participant is no longer in the room: attendance closed, log, and everyone is told."""
    Attendance.objects.filter(room=room, user=participant.user, left_at__isnull=True).update(left_at=timezone.now())
    log(room, RoomLogEntry.Kind.LEAVE, target=participant.user)
    if not participant.listening:
        events.send_event_on_commit(events.room_group(room.pk), p.ParticipantLeft(id=str(participant.user_id)))
    notify_overview(room)
    if participant.hand_raised_at is not None:
        broadcast_hands(room)
    events.call_on_commit(media.participant_left, str(room.pk), str(participant.user_id))
