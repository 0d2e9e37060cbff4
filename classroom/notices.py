"""The moderators' waiting list after sockets come and go, coalesced per room in this process.

An outsider whose page reconnects in a loop joins and leaves the waiting room many times a second;
each change used to send `waiting.updated` to every moderator. Here the first change goes out at
once, later ones at most once per `ROOM_WAITING_COALESCE_MS`, each with the list as it is when
sent, and none when the list is the same as the last one sent. A moderator's own admit or deny
still answers at once (`actions.common.broadcast_waiting`).
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from . import events
from . import protocol as p
from .actions import serialize
from .models import Room

log = logging.getLogger(__name__)


class WaitingNotices:
    """Per room: when the list was last sent, what it was, and the flush waiting to run."""

    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}
        self.last: dict[str, str] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}

    def changed(self, room_id: str) -> None:
        """Someone started or stopped waiting in this room: send the list soon."""
        task = self.pending.get(room_id)
        if task is not None and not task.done():
            return
        loop = asyncio.get_running_loop()
        interval = settings.ROOM_WAITING_COALESCE_MS / 1000
        delay = max(0.0, self.sent_at.get(room_id, -interval) + interval - loop.time())
        self.pending[room_id] = loop.create_task(self._flush(room_id, delay))

    async def _flush(self, room_id: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self.pending.pop(room_id, None)
        try:
            waiting = await database_sync_to_async(_waiting_list)(room_id)
        except Exception:
            log.exception("could not read the waiting list of %s", room_id)
            return
        if waiting is None:
            return
        event = p.dump(p.WaitingUpdated(waiting=waiting))
        text = json.dumps(event, sort_keys=True)
        if self.last.get(room_id) == text:
            return
        self.last[room_id] = text
        self.sent_at[room_id] = asyncio.get_running_loop().time()
        await events.group_send(events.moderators_group(room_id), {"type": events.EVENT, "event": event})


def _waiting_list(room_id: str) -> list[p.WaitingObject] | None:
    room = Room.objects.filter(pk=room_id, ended_at__isnull=True).first()
    if room is None:
        return None
    return serialize.waiting_objects(room)


waiting_notices = WaitingNotices()
