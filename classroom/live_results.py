"""Moderators' live poll results, coalesced per poll in this process.

A vote only nudges the moderators' sockets (`polls.VOTED` through the channel layer, so every
ASGI process that holds one hears it). Each process then reads the results at most once per
`poll_results_seconds()` for each poll, and hands the same event to every socket of its own that
was nudged. The read starts after the nudge, which leaves only once the vote is committed: the
last results a moderator gets always count the last vote.
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

from .actions.polls import moderator_results

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


class LiveResults:
    """At most one read of a poll's results per interval in this process, always a last one after a vote."""

    def __init__(self) -> None:
        self.feeds: dict[str, _Feed] = {}

    def voted(self, poll_id: str, receiver: Receiver) -> None:
        """A vote on this poll was committed: `receiver` gets results that count it, soon."""
        loop = asyncio.get_running_loop()
        feed = self.feeds.get(poll_id)
        if feed is None or feed.task is None or feed.task.done() or feed.task.get_loop() is not loop:
            feed = _Feed()
            feed.task = loop.create_task(self._run(poll_id, feed))
            self.feeds[poll_id] = feed
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
                    event = await database_sync_to_async(moderator_results)(poll_id)
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


live_results = LiveResults()
