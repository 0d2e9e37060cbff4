"""Moderators' live poll results, coalesced per poll in this process.

A batch of votes only nudges the moderators' sockets (`polls.VOTED` through the channel layer, so
every ASGI process that holds one hears it), once it is committed, with the votes it wrote
(`classroom.ballots`). Each process sends the results at most once per `poll_results_seconds()`
for each poll, and hands the same event to every socket of its own that was nudged. It reads the
poll and its votes from the database once, when a burst of votes starts (or when a nudge comes
without its votes), and then adds the nudges' votes to those it read: one vote per user and poll,
so a vote both read and received counts once, and the last results a moderator gets count the
last vote without reading every vote again a few times a second.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from .actions.polls import live_results_event, read_votes
from .models import Poll

logger = logging.getLogger(__name__)

# A socket's coroutine that sends one `poll.results` event (as a dict) to its client.
Receiver = Callable[[dict[str, Any]], Awaitable[None]]


def poll_results_seconds() -> float:
    return float(settings.POLL_RESULTS_SECONDS)


@dataclass(eq=False)
class _Feed:
    """One poll's pending sockets and the task that reads and sends its results."""

    task: asyncio.Task[None] | None = None
    waiting: set[Receiver] = field(default_factory=set)
    last_read: float = -math.inf
    poll: Poll | None = None  # as read when the feed started (the final results come from the close)
    # The votes by user: (name, choices), those read and those the nudges brought since.
    votes: dict[int, tuple[str, list[int]]] = field(default_factory=dict)
    reread: bool = True


class LiveResults:
    """At most one read of a poll's results per interval in this process, always a last one after a vote."""

    def __init__(self) -> None:
        self.feeds: dict[str, _Feed] = {}

    def voted(self, poll_id: str, receiver: Receiver, votes: list[list[Any]] | None = None) -> None:
        """Votes on this poll were committed: `receiver` gets results that count them, soon.

        `votes`: what they were, [user id, name, choices] each; None to read them again.
        """
        loop = asyncio.get_running_loop()
        feed = self.feeds.get(poll_id)
        if feed is None or feed.task is None or feed.task.done() or feed.task.get_loop() is not loop:
            feed = _Feed()
            feed.task = loop.create_task(self._run(poll_id, feed))
            self.feeds[poll_id] = feed
        if votes is None:
            feed.reread = True
        else:
            for user_id, name, choices in votes:
                feed.votes[int(user_id)] = (str(name), [int(choice) for choice in choices])
        feed.waiting.add(receiver)

    def forget(self, receiver: Receiver) -> None:
        """A socket is gone: send it nothing more."""
        for feed in self.feeds.values():
            feed.waiting.discard(receiver)

    async def _run(self, poll_id: str, feed: _Feed) -> None:
        loop = asyncio.get_running_loop()
        # The first read is at once; the feed then stays one interval after its last read, so
        # that votes at any rate cost at most one read per interval.
        try:
            while True:
                await asyncio.sleep(max(0.0, feed.last_read + poll_results_seconds() - loop.time()))
                if not feed.waiting:
                    return
                receivers, feed.waiting = feed.waiting, set()
                feed.last_read = loop.time()
                try:
                    event = await self._results(poll_id, feed)
                except Exception:
                    logger.exception("reading the live results of poll %s failed", poll_id)
                    continue
                if event is None:
                    continue
                for receiver in receivers:
                    try:
                        await receiver(event)
                    except Exception:
                        logger.exception("sending the live results of poll %s failed", poll_id)
        finally:
            if self.feeds.get(poll_id) is feed:
                del self.feeds[poll_id]

    @staticmethod
    async def _results(poll_id: str, feed: _Feed) -> dict[str, Any] | None:
        """The results event: read from the database once (or when asked), then from the nudges."""
        if feed.reread or feed.poll is None:
            feed.reread = False
            read = await database_sync_to_async(read_votes)(poll_id)
            if read is None:
                return None
            feed.poll, rows = read
            # Votes that came with nudges during the read and that it did not see stay counted.
            votes = {user_id: (name, choices) for _poll_id, user_id, name, choices in rows}
            votes.update(feed.votes)
            feed.votes = votes
        poll = feed.poll
        rows = [(poll.pk, user_id, name, choices) for user_id, (name, choices) in feed.votes.items()]
        return live_results_event(poll, rows)


live_results = LiveResults()
