"""Turn room rows into the protocol's objects (SPEC section 4)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from accounts.models import Role, User

from .. import protocol as p
from ..models import ChatMessage, Participant, Poll, Room


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def team_ids(room: Room) -> set[int]:
    """Users who moderate this room by their role in its class (admins aside)."""
    if room.kind == Room.Kind.LESSON and room.school_class_id is not None:
        return set(room.school_class.teachers.values_list("pk", flat=True))  # type: ignore[union-attr]
    return set()


def is_moderator_with(room: Room, user: User, team: set[int]) -> bool:
    """`permissions.is_room_moderator` for many users at once, given the class team."""
    if user.role == Role.ADMIN:
        return True
    if room.kind == Room.Kind.LESSON:
        return user.role == Role.TEACHER and user.pk in team
    return user.role == Role.SUPERVISOR


def room_object(room: Room) -> p.RoomObject:
    can = room.students_can
    return p.RoomObject(
        id=str(room.pk),
        kind=room.kind,  # type: ignore[arg-type]
        title=room.title,
        locked=room.locked,
        chat_locked=room.chat_locked,
        safe_mode=room.safe_mode,
        students_can={key: bool(can.get(key, False)) for key in ("audio", "video", "screen", "chat")},
        closes_at=iso(room.closes_at),
    )


def participant_object(participant: Participant, moderator: bool) -> p.ParticipantObject:
    user = participant.user
    return p.ParticipantObject(
        id=str(user.pk),
        name=user.name,
        role=user.role,  # type: ignore[arg-type]
        moderator=moderator,
        presenter=moderator or participant.presenter,
        hand=participant.hand_raised_at is not None,
        audio=participant.audio,
        video=participant.video,
        screen=participant.screen,
        muted_audio=participant.muted_audio,
        muted_video=participant.muted_video,
    )


def present_participants(room: Room) -> list[Participant]:
    return list(
        room.participants.filter(status=Participant.Status.ADMITTED, connections__gt=0)
        .select_related("user")
        .order_by("created_at", "pk")
    )


def participant_objects(room: Room, participants: Iterable[Participant]) -> list[p.ParticipantObject]:
    team = team_ids(room)
    return [participant_object(item, is_moderator_with(room, item.user, team)) for item in participants]


def hands_queue(room: Room) -> list[str]:
    """Present participants with a raised hand, oldest raise first."""
    raised = room.participants.filter(
        status=Participant.Status.ADMITTED, connections__gt=0, hand_raised_at__isnull=False
    ).order_by("hand_raised_at", "pk")
    return [str(user_id) for user_id in raised.values_list("user_id", flat=True)]


def waiting_objects(room: Room) -> list[p.WaitingObject]:
    waiting = (
        room.participants.filter(status=Participant.Status.WAITING, connections__gt=0)
        .select_related("user")
        .order_by("created_at", "pk")
    )
    return [
        p.WaitingObject(id=str(item.user_id), name=item.user.name, reason=item.waiting_reason)  # type: ignore[arg-type]
        for item in waiting
    ]


def chat_object(message: ChatMessage) -> p.ChatObject:
    return p.ChatObject(
        id=str(message.pk),
        from_=p.Sender(id=str(message.sender_id), name=message.sender.name),
        to=str(message.recipient_id) if message.recipient_id else None,
        text=message.text,
        at=iso(message.created_at) or "",
    )


def sender(user: User) -> p.Sender:
    return p.Sender(id=str(user.pk), name=user.name)


def poll_object(poll: Poll, *, results: bool = False, named: bool = False, mine: list[int] | None = None) -> p.PollObject:
    """A poll; with `results` its counts, with `named` (moderators, non-anonymous) who chose what."""
    obj = p.PollObject(
        id=str(poll.pk),
        question=poll.question,
        options=list(poll.options),
        anonymous=poll.anonymous,
        multiple=poll.multiple,
        status=poll.status,  # type: ignore[arg-type]
        mine=mine,
    )
    if results:
        votes = list(poll.votes.select_related("user"))
        counts = [0] * len(poll.options)
        for vote in votes:
            for choice in vote.choices:
                counts[choice] += 1
        obj.counts = counts
        obj.voters = len(votes)
        if named and not poll.anonymous:
            obj.votes = [p.NamedVote(id=str(v.user_id), name=v.user.name, choices=list(v.choices)) for v in votes]
    return obj
