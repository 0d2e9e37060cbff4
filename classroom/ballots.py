"""Votes gathered on the event loop and written in batches, one database turn per batch.

A `poll.vote` from an admitted socket passes the permission table with the socket's own standing
(no database read), then waits here with the others of its poll in this process. The first vote
of a quiet poll is written at once; while votes keep coming, a poll's batch leaves at most every
`VOTE_BATCH_SECONDS` (or as soon as `VOTE_BATCH_MAX` wait), in one transaction
(`polls.record_votes`: the voters' standing checked again where it is kept, the poll locked, one
INSERT ... ON CONFLICT for the batch), then one nudge to the moderators from the loop. Each
socket's `ok` or `error` is sent once its batch is committed, as it was after its own transaction.

Every vote used to be its own database turn: a thread hop each way, the actor read, the poll locked,
the ballot checked and written, `BEGIN`/`COMMIT` and the moderators' nudge through the channel
layer, about 7-8 ms of server CPU each on PostgreSQL; in batches of 0.1 s, 1.1-1.4 ms
(docs/protocol.md, "Votes in batches"; 0.05 s batches cost 1.5-2.0 ms: a batch's database turn
costs about the same whatever its size).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from . import events, ratelimit
from . import protocol as p
from .actions.polls import VOTED, Ballot, record_votes
from .permissions import Actor, Refused, check_may_send

logger = logging.getLogger(__name__)

# The most votes written in one statement (a batch leaves early when this many wait).
VOTE_BATCH_MAX = 200


def vote_batch_seconds() -> float:
    return float(settings.VOTE_BATCH_SECONDS)


_Waiting = tuple[Ballot, "asyncio.Future[p.VoteRecorded | Refused]"]


@dataclass(eq=False)
class _Box:
    """One poll's votes waiting in this process, and the task that writes them."""

    room_id: str
    poll_id: str
    loop: asyncio.AbstractEventLoop
    waiting: list[_Waiting] = field(default_factory=list)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    last_write: float = -math.inf


class BallotBox:
    """This process's votes on their way to the database, batched per poll."""

    def __init__(self) -> None:
        self.boxes: dict[tuple[str, str], _Box] = {}

    async def vote(self, room_id: str, poll_id: str, ballot: Ballot) -> p.VoteRecorded:
        """Write this vote with the others of its batch; its reply, or Refused raised."""
        loop = asyncio.get_running_loop()
        key = (room_id, poll_id)
        box = self.boxes.get(key)
        if box is None or box.loop is not loop or box.task is None or box.task.done():
            box = _Box(room_id, poll_id, loop)
            box.task = loop.create_task(self._run(key, box))
            self.boxes[key] = box
        future: asyncio.Future[p.VoteRecorded | Refused] = loop.create_future()
        box.waiting.append((ballot, future))
        if len(box.waiting) >= VOTE_BATCH_MAX:
            box.full.set()
        outcome = await future
        if isinstance(outcome, Refused):
            raise outcome
        return outcome

    async def _run(self, key: tuple[str, str], box: _Box) -> None:
        loop = box.loop
        try:
            while True:
                # Votes that arrive in the same turn of the loop leave together; then one interval
                # between the starts of two writes, unless a batch is full.
                await asyncio.sleep(0)
                wait = box.last_write + vote_batch_seconds() - loop.time()
                if wait > 0 and not box.full.is_set():
                    try:
                        await asyncio.wait_for(box.full.wait(), wait)
                    except TimeoutError:
                        pass
                if not box.waiting:
                    return
                batch, box.waiting = box.waiting[:VOTE_BATCH_MAX], box.waiting[VOTE_BATCH_MAX:]
                if len(box.waiting) < VOTE_BATCH_MAX:
                    box.full.clear()
                box.last_write = loop.time()
                await self._write(box, batch)
        finally:
            if self.boxes.get(key) is box:
                del self.boxes[key]
            for _ballot, future in box.waiting:  # cancelled with votes waiting: they are not written
                if not future.done():
                    future.cancel()

    @staticmethod
    async def _write(box: _Box, batch: list[_Waiting]) -> None:
        try:
            outcomes = await database_sync_to_async(record_votes)(box.room_id, box.poll_id, [b for b, _ in batch])
        except Exception as exc:
            logger.exception("writing %d votes on poll %s failed", len(batch), box.poll_id)
            for _ballot, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        written = [
            [ballot.user_id, ballot.name, ballot.choices]
            for (ballot, _future), outcome in zip(batch, outcomes, strict=True)
            if isinstance(outcome, p.VoteRecorded)
        ]
        if written:
            # Committed: one nudge for the batch, with its votes (`classroom.live_results` adds them
            # to those it read), from the loop itself.
            nudge = {"type": events.CONTROL, "action": VOTED, "poll": box.poll_id, "votes": written}
            try:
                await events.group_send(events.moderators_group(box.room_id), nudge)
            except Exception:  # the votes are stored: their replies still go out
                logger.exception("could not tell the moderators of poll %s", box.poll_id)
        for (_ballot, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # its socket may have closed meanwhile
                future.set_result(outcome)


ballot_box = BallotBox()

# Votes have no per-user limit (the frame limit applies): none needs the cache before the batch.
assert "poll.vote" not in ratelimit.PER_USER and "poll.vote" not in ratelimit.COUNTED_AS


async def live_vote(actor: Actor, message: p.PollVote) -> p.VoteRecorded:
    """`poll.vote` from an admitted socket (`dispatch.LIVE_HANDLERS`): batched, replied once written."""
    check_may_send(actor, message.type)
    ballot = Ballot(actor.user.pk, list(message.choices), actor.user.name)
    return await ballot_box.vote(str(actor.room.pk), message.poll, ballot)
