"""Polls: created by moderators, one vote per participant, live counts to moderators.

Closing and publishing send exact results at once; votes only nudge the moderators' sockets,
which coalesce live results (`classroom.live_results`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .. import events
from .. import protocol as p
from ..models import Poll, PollVote
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
    poll = Poll.objects.filter(pk=int(poll_id)).first()
    if poll is None:
        return None
    return p.dump(p.PollResults(poll=serialize.poll_object(poll, results=True, named=True)))


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


def check_poll_vote(actor: Actor, message: p.PollVote) -> Poll:
    check_may_send(actor, message.type)
    poll = _poll(actor, message.poll)
    if poll.status != Poll.Status.OPEN:
        raise Refused("conflict", "This poll is closed.")
    if any(choice >= len(poll.options) for choice in message.choices):
        raise Refused("invalid", "No such option.")
    if not poll.multiple and len(message.choices) != 1:
        raise Refused("invalid", "Choose exactly one option.")
    if PollVote.objects.filter(poll=poll, user=actor.user).exists():
        raise Refused("conflict", "You have already voted.")
    return poll


@transaction.atomic
def do_poll_vote(actor: Actor, message: p.PollVote) -> p.VoteRecorded:
    poll = check_poll_vote(actor, message)
    PollVote.objects.create(poll=poll, user=actor.user, choices=list(message.choices))
    # Only a nudge: each process of the moderators' sockets reads the results a few times a
    # second at most (`classroom.live_results`), instead of every vote serializing every vote.
    events.send_control_on_commit(events.moderators_group(poll.room_id), VOTED, poll=str(poll.pk))
    return p.VoteRecorded(poll=str(poll.pk), choices=list(message.choices))


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
