"""Turn room rows into the protocol's objects (docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accounts.models import User

from .. import protocol as p
from ..models import ChatMessage, Participant, Poll, PollVote, Room
from ..permissions import is_moderator_with, team_ids


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True, slots=True)
class PresentUser:
    pk: int
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Present:
    """A present participant as `state` reads it: what a participant object needs, not a model.

    `state` lists every present participant on each join; building 200 models (and their users)
    per join was most of a join storm's cost, and plain rows are about six times cheaper.
    """

    pk: int
    room_id: Any
    user_id: int
    presenter: bool
    hand_raised_at: datetime | None
    audio: bool
    video: bool
    screen: bool
    muted_audio: bool
    muted_video: bool
    user: PresentUser


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
        parent=str(room.parent_id) if room.parent_id is not None else None,
    )


# Fields that apps beside the classroom add to participant objects (slides: `draw`): given the
# participants of one room with their moderator flag, the fields by user id, read in one query.
ParticipantPart = Callable[[list[tuple[Participant | Present, bool]]], dict[int, dict[str, Any]]]
_participant_parts: list[ParticipantPart] = []


def add_participant_part(part: ParticipantPart) -> None:
    """Add fields to participant objects from an app beside the classroom, at start."""
    _participant_parts.append(part)


def _extra_fields(participants: list[tuple[Participant | Present, bool]]) -> dict[int, dict[str, Any]]:
    extra: dict[int, dict[str, Any]] = {}
    for part in _participant_parts:
        for user_id, fields in part(participants).items():
            extra.setdefault(user_id, {}).update(fields)
    return extra


def participant_object(
    participant: Participant | Present, moderator: bool, extra: dict[str, Any] | None = None
) -> p.ParticipantObject:
    """A participant; `extra` are the added fields when the caller read them for many at once."""
    user = participant.user
    if extra is None:
        extra = _extra_fields([(participant, moderator)]).get(participant.user_id, {})
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
        **extra,
    )


def present_participants(room: Room) -> list[Present]:
    """Who is in the room for everyone to see (a moderator listening in silently is not)."""
    rows = (
        room.participants.filter(status=Participant.Status.ADMITTED, connections__gt=0, listening=False)
        .order_by("created_at", "pk")
        .values_list(
            *("pk", "room_id", "user_id", "presenter", "hand_raised_at", "audio", "video", "screen"),
            *("muted_audio", "muted_video"),
            *("user__username", "user__first_name", "user__last_name", "user__display_name", "user__role"),
        )
    )
    return [_present(row) for row in rows]


def _present(row: tuple[Any, ...]) -> Present:
    """One row of `present_participants`: the participant's ten fields, then its user's five."""
    pk, room_id, user_id, presenter, hand, audio, video, screen, muted_audio, muted_video = row[:10]
    username, first, last, display, role = row[10:]
    user = PresentUser(user_id, display or f"{first} {last}".strip() or username, role)
    return Present(pk, room_id, user_id, presenter, hand, audio, video, screen, muted_audio, muted_video, user)


def participant_objects(
    room: Room, participants: Iterable[Participant | Present], team: set[int] | None = None
) -> list[p.ParticipantObject]:
    """The participants of one room, their added fields read at once; `team`: the room's, if read already."""
    team = team_ids(room) if team is None else team
    flagged = [(item, is_moderator_with(room, item.user, team)) for item in participants]
    extra = _extra_fields(flagged)
    return [participant_object(item, moderator, extra.get(item.user_id, {})) for item, moderator in flagged]


def hands_of(present: Iterable[Participant | Present]) -> list[str]:
    """`hands_queue` from the participants that `present_participants` read."""
    raised = sorted(
        (item for item in present if item.hand_raised_at is not None), key=lambda item: (item.hand_raised_at, item.pk)
    )
    return [str(item.user_id) for item in raised]


def hands_queue(room: Room) -> list[str]:
    """Present participants with a raised hand, oldest raise first."""
    raised = room.participants.filter(
        status=Participant.Status.ADMITTED, connections__gt=0, listening=False, hand_raised_at__isnull=False
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


# One vote as `poll_votes` reads it: (poll id, user id, user name or "", choices).
VoteRow = tuple[int, int, str, list[int]]


def poll_votes(polls: Iterable[Poll], *, named: bool = False) -> dict[int, list[VoteRow]]:
    """The votes of these polls in one query, by poll; names only where `named` may show them."""
    by_poll: dict[int, list[VoteRow]] = {poll.pk: [] for poll in polls}
    if not by_poll:
        return by_poll
    rows = PollVote.objects.filter(poll_id__in=by_poll).order_by("created_at", "pk")
    if named:
        user_fields = ("user__display_name", "user__first_name", "user__last_name", "user__username")
        for vote in rows.select_related("user").only("poll_id", "user_id", "choices", *user_fields):
            by_poll[vote.poll_id].append((vote.poll_id, vote.user_id, vote.user.name, vote.choices))
    else:
        for poll_id, user_id, choices in rows.values_list("poll_id", "user_id", "choices"):
            by_poll[poll_id].append((poll_id, user_id, "", choices))
    return by_poll


def poll_object(
    poll: Poll,
    *,
    results: bool = False,
    named: bool = False,
    mine: list[int] | None = None,
    votes: list[VoteRow] | None = None,
) -> p.PollObject:
    """A poll; with `results` its counts, with `named` (moderators, non-anonymous) who chose what.

    `votes` are the poll's votes from `poll_votes`, when the caller read those of many polls at once.
    """
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
        named = named and not poll.anonymous
        if votes is None:
            votes = poll_votes([poll], named=named)[poll.pk]
        counts = [0] * len(poll.options)
        for _poll_id, _user_id, _name, choices in votes:
            for choice in choices:
                counts[choice] += 1
        obj.counts = counts
        obj.voters = len(votes)
        if named:
            obj.votes = [
                p.NamedVote(id=str(user_id), name=name, choices=list(choices)) for _, user_id, name, choices in votes
            ]
    return obj
