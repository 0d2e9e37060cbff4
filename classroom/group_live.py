"""The live side of breakout groups in this process: the moderators' overview and the groups' timer.

`groups.overview` goes to a lesson's moderator sockets whenever one of its groups changes, at most
twice a second: a change (the `overview` control that the actions send to the lesson's moderators
group) is coalesced per lesson here, the overview is read once from the database and given to this
process's moderator sockets of that lesson; the same overview is not sent twice. Who speaks in each
group (`classroom.media.speaking`, what the forwarder last reported) is read from the cache every
half second while groups are shown, and a change is one more change of the overview. The timer of running groups closes them at `ends_at` while this
process holds a socket of the lesson or of one of its groups; the sweep does it otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils import timezone

from . import protocol as p
from .actions import groups

log = logging.getLogger(__name__)

OVERVIEW_INTERVAL = 0.5
"""At most twice a second."""

Watcher = Callable[[dict[str, Any]], Awaitable[None]]


class Overviews:
    """Per lesson: this process's moderator sockets, the coalescing, and the watch on who speaks."""

    def __init__(self) -> None:
        self.watchers: dict[str, set[Watcher]] = {}
        self.sent_at: dict[str, float] = {}
        self.last: dict[str, str] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        # the groups of the overview last sent and their speakers, and the task following them
        self.speaking: dict[str, dict[str, list[str]]] = {}
        self.listening: dict[str, asyncio.Task[None]] = {}

    def watch(self, lesson_id: str, watcher: Watcher, *, running: bool) -> None:
        """A moderator socket of the lesson: it gets every change, and the overview now if groups run."""
        self.watchers.setdefault(lesson_id, set()).add(watcher)
        if running:
            # a newcomer needs the overview even if it is the one last sent
            self.last.pop(lesson_id, None)
            self.changed(lesson_id)

    def forget(self, watcher: Watcher) -> None:
        for lesson_id, watchers in list(self.watchers.items()):
            watchers.discard(watcher)
            if not watchers:
                del self.watchers[lesson_id]
                self.last.pop(lesson_id, None)
                self._stop_listening(lesson_id)

    def changed(self, lesson_id: str) -> None:
        """Something in the lesson's groups changed: its moderators here get the overview soon."""
        if lesson_id not in self.watchers:
            return
        task = self.pending.get(lesson_id)
        if task is not None and not task.done():
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self.sent_at.get(lesson_id, -OVERVIEW_INTERVAL) + OVERVIEW_INTERVAL - loop.time())
        self.pending[lesson_id] = loop.create_task(self._flush(lesson_id, delay))

    async def _flush(self, lesson_id: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self.pending.pop(lesson_id, None)
        try:
            event = await database_sync_to_async(groups.overview)(lesson_id)
        except Exception:
            log.exception("could not read the groups of %s", lesson_id)
            return
        if event is None:
            return
        self._listen(lesson_id, {group.id: group.speaking for group in event.groups})
        data = p.dump(event)
        text = json.dumps(data, sort_keys=True)
        last = self.last.get(lesson_id)
        # no groups and none shown: nothing to tell
        if last == text or (not event.groups and last is None):
            return
        self.last[lesson_id] = text
        self.sent_at[lesson_id] = asyncio.get_running_loop().time()
        for watcher in list(self.watchers.get(lesson_id, ())):
            try:
                await watcher(data)
            except Exception:
                log.exception("could not send the groups' overview of %s", lesson_id)

    def _listen(self, lesson_id: str, speaking: dict[str, list[str]]) -> None:
        """Follow who speaks in the groups shown (the forwarder's reports, kept in the cache)."""
        if not speaking or lesson_id not in self.watchers:
            self._stop_listening(lesson_id)
            return
        self.speaking[lesson_id] = speaking
        task = self.listening.get(lesson_id)
        if task is None or task.done():
            self.listening[lesson_id] = asyncio.get_running_loop().create_task(self._follow_speakers(lesson_id))

    def _stop_listening(self, lesson_id: str) -> None:
        self.speaking.pop(lesson_id, None)
        task = self.listening.pop(lesson_id, None)
        if task is not None:
            task.cancel()

    async def _follow_speakers(self, lesson_id: str) -> None:
        # one cache read per group each interval, rather than the database
        while lesson_id in self.speaking:
            await asyncio.sleep(OVERVIEW_INTERVAL)
            shown = self.speaking.get(lesson_id)
            if shown is None:
                return
            try:
                now = await sync_to_async(groups.speakers, thread_sensitive=False)(list(shown))
            except Exception:
                log.exception("could not read who speaks in the groups of %s", lesson_id)
                continue
            if now != shown:
                self.speaking[lesson_id] = now
                self.changed(lesson_id)


class Deadlines:
    """Per lesson, the task that closes its groups when their time is up."""

    def __init__(self) -> None:
        self.tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}

    def notice(self, lesson_id: str, ends_at: str | None) -> None:
        """Follow the groups' end as seen in a `state` or a `groups.updated`."""
        current = self.tasks.get(lesson_id)
        if current is not None and current[0] == ends_at and not current[1].done():
            return
        if current is not None:
            current[1].cancel()
            del self.tasks[lesson_id]
        if ends_at is not None:
            task = asyncio.get_running_loop().create_task(self._close_at(lesson_id, datetime.fromisoformat(ends_at)))
            self.tasks[lesson_id] = (ends_at, task)

    async def _close_at(self, lesson_id: str, ends_at: datetime) -> None:
        await asyncio.sleep(max(0.0, (ends_at - timezone.now()).total_seconds()))
        try:
            await database_sync_to_async(groups.do_close_groups_if_due)(lesson_id)
        except Exception:
            log.exception("could not close the groups of %s", lesson_id)


overviews = Overviews()
deadlines = Deadlines()
