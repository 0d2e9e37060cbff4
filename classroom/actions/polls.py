"""Polls: created by moderators, one vote per participant, live counts to moderators.

Closing and publishing send exact results at once; votes only nudge the moderators' sockets,
which coalesce live results (`classroom.live_results`). An admitted socket's votes are written
in batches (`classroom.ballots` gathers them, `record_votes` writes each batch in one transaction);
`do_poll_vote` is the one-message path, for a socket not (or no longer) in the room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import events
from .. import protocol as p
from ..models import Participant, Poll, PollVote
from ..permissions import Actor, Refused, check_may_send
from . import serialize

# `room.control` action: a vote was counted; moderators' sockets coalesce these into live results.
VOTED = "poll.voted"


def _poll(actor: Actor, poll_id: str) -> Poll:
    poll = Poll.objects.select_for_update().filter(room=actor.room, pk=int(poll_id)).first()
    if poll is None:
        raise Refused("not_found", "No such poll.")
    return poll


def _results_to_moderators(poll: Poll) -> None:
    events.send_event_on_commit(
        events.moderators_group(poll.room_id), p.PollResults(poll=serialize.poll_object(poll, results=True, named=True))
    )


def moderator_results(poll_id: str) -> dict[str, Any] | None:
    """The `poll.results` event that moderators see for this poll now, or None if it is gone."""
    read = read_votes(poll_id)
    return None if read is None else live_results_event(*read)


def read_votes(poll_id: str) -> tuple[Poll, list[serialize.VoteRow]] | None:
    """The poll and its votes (named where moderators may see names), or None if it is gone."""
    poll = Poll.objects.filter(pk=int(poll_id)).first()
    if poll is None:
        return None
    return poll, serialize.poll_votes([poll], named=not poll.anonymous)[poll.pk]


def live_results_event(poll: Poll, votes: list[serialize.VoteRow]) -> dict[str, Any]:
    """The moderators' `poll.results` event for these votes of the poll."""
    return p.dump(p.PollResults(poll=serialize.poll_object(poll, results=True, named=True, votes=votes)))


@transaction.atomic
def do_poll_create(actor: Actor, message: p.PollCreate) -> p.PollCreated:
    check_may_send(actor, message.type)
    poll = Poll.objects.create(
        room=actor.room,
        created_by=actor.user,
        question=message.question,
        options=list(message.options),
        anonymous=message.anonymous,
        multiple=message.multiple,
    )
    obj = serialize.poll_object(poll)
    events.send_event_on_commit(events.room_group(actor.room.pk), p.PollOpened(poll=obj))
    return p.PollCreated(poll=obj)


def _closed() -> Refused:
    return Refused("conflict", "This poll is closed.")


def _voted_already() -> Refused:
    return Refused("conflict", "You have already voted.")


def _check_choices(poll: Poll, choices: Sequence[int]) -> None:
    if any(choice >= len(poll.options) for choice in choices):
        raise Refused("invalid", "No such option.")
    if not poll.multiple and len(choices) != 1:
        raise Refused("invalid", "Choose exactly one option.")


def check_poll_vote(actor: Actor, message: p.PollVote) -> Poll:
    check_may_send(actor, message.type)
    poll = _poll(actor, message.poll)
    if poll.status != Poll.Status.OPEN:
        raise _closed()
    _check_choices(poll, message.choices)
    if PollVote.objects.filter(poll=poll, user=actor.user).exists():
        raise _voted_already()
    return poll


@transaction.atomic
def do_poll_vote(actor: Actor, message: p.PollVote) -> p.VoteRecorded:
    poll = check_poll_vote(actor, message)
    PollVote.objects.create(poll=poll, user=actor.user, choices=list(message.choices))
    # Only a nudge: each process of the moderators' sockets reads the results a few times a
    # second at most (`classroom.live_results`), instead of every vote serializing every vote.
    events.send_control_on_commit(events.moderators_group(poll.room_id), VOTED, poll=str(poll.pk))
    return p.VoteRecorded(poll=str(poll.pk), choices=list(message.choices))


@dataclass(frozen=True, slots=True)
class Ballot:
    """One `poll.vote` that passed the permission table on its socket, waiting to be written."""

    user_id: int
    choices: list[int]
    name: str = ""  # the voter's, for the moderators' live results (`classroom.live_results`)


@transaction.atomic
def record_votes(room_id: str, poll_id: str, ballots: Sequence[Ballot]) -> list[p.VoteRecorded | Refused]:
    """Write a batch of votes on one poll in one transaction; the reply to each, in order.

    The socket checked the permission table with its own standing; this checks it again where it
    is kept (the voter still admitted, the room not ended), so a student removed or sent back to
    the waiting room has the next vote refused whatever their socket believes. The replies are
    those of `do_poll_vote`, in its order: `forbidden`, `not_found`, `conflict` (poll closed),
    `invalid`, `conflict` (voted already: an earlier vote, one from another tab written by
    another process, or the same user earlier in this batch). The poll is locked as
    `do_poll_close` locks it: a vote is counted before the close or refused after it. Queries:
    the voters' standing, the poll, one INSERT ... ON CONFLICT DO NOTHING for the whole batch.
    The caller, on the event loop, nudges the moderators (`VOTED`) once this has committed.
    """
    admitted = set(
        Participant.objects.filter(
            room_id=room_id,
            user_id__in={ballot.user_id for ballot in ballots},
            status=Participant.Status.ADMITTED,
            room__ended_at__isnull=True,
        ).values_list("user_id", flat=True)
    )
    if not admitted:
        return [Refused("forbidden", "You may not do this in this room.") for _ in ballots]
    poll = Poll.objects.select_for_update().filter(room_id=room_id, pk=int(poll_id)).first()
    outcomes: list[p.VoteRecorded | Refused] = []
    rows: dict[int, list[int]] = {}
    for ballot in ballots:
        outcome: p.VoteRecorded | Refused = p.VoteRecorded(poll=poll_id, choices=ballot.choices)
        if ballot.user_id not in admitted:
            outcome = Refused("forbidden", "You may not do this in this room.")
        elif poll is None:
            outcome = Refused("not_found", "No such poll.")
        elif poll.status != Poll.Status.OPEN:
            outcome = _closed()
        elif ballot.user_id in rows:
            outcome = _voted_already()
        else:
            try:
                _check_choices(poll, ballot.choices)
            except Refused as refused:
                outcome = refused
            else:
                rows[ballot.user_id] = ballot.choices
        outcomes.append(outcome)
    if poll is None or not rows:
        return outcomes
    written = _insert_votes(poll.pk, rows)
    return [
        _voted_already() if isinstance(outcome, p.VoteRecorded) and ballot.user_id not in written else outcome
        for ballot, outcome in zip(ballots, outcomes, strict=True)
    ]


def _insert_votes(poll_id: int, rows: dict[int, list[int]]) -> set[int]:
    """Insert one vote per user where the user has none on this poll; the users whose vote was written.

    One statement for the batch; the unique constraint decides (also against another process's
    batch committed meanwhile), and RETURNING says which rows it let in (PostgreSQL, SQLite 3.35+).
    """
    meta = PollVote._meta
    quote = connection.ops.quote_name
    fields = {field.name: field for field in meta.concrete_fields}
    poll_col, user_col, choices_col, at_col = (
        quote(str(fields[name].column)) for name in ("poll", "user", "choices", "created_at")
    )
    choices_field = fields["choices"]
    at = fields["created_at"].get_db_prep_save(timezone.now(), connection)
    params: list[Any] = []
    for user_id, choices in rows.items():
        params += [poll_id, user_id, choices_field.get_db_prep_save(choices, connection), at]
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({poll_col}, {user_col}, {choices_col}, {at_col}) VALUES {values} "
        f"ON CONFLICT ({poll_col}, {user_col}) DO NOTHING RETURNING {user_col}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(row[0]) for row in cursor.fetchall()}


@transaction.atomic
def do_poll_close(actor: Actor, message: p.PollClose) -> None:
    check_may_send(actor, message.type)
    poll = _poll(actor, message.poll)
    if poll.status != Poll.Status.OPEN:
        raise Refused("conflict", "This poll is already closed.")
    poll.status = Poll.Status.CLOSED
    poll.save(update_fields=["status"])
    events.send_event_on_commit(events.room_group(actor.room.pk), p.PollClosed(id=str(poll.pk)))
    _results_to_moderators(poll)


@transaction.atomic
def do_poll_publish(actor: Actor, message: p.PollPublish) -> None:
    """Close the poll if still open and show its results to everyone."""
    check_may_send(actor, message.type)
    poll = _poll(actor, message.poll)
    if poll.status == Poll.Status.PUBLISHED:
        raise Refused("conflict", "These results are already published.")
    if poll.status == Poll.Status.OPEN:
        events.send_event_on_commit(events.room_group(actor.room.pk), p.PollClosed(id=str(poll.pk)))
    poll.status = Poll.Status.PUBLISHED
    poll.save(update_fields=["status"])
    events.send_event_on_commit(
        events.room_group(actor.room.pk), p.PollResults(poll=serialize.poll_object(poll, results=True))
    )
    if not poll.anonymous:
        _results_to_moderators(poll)
