"""This web process's watch over its peers and over Redis (several processes, `REDIS_URL` set).

Every web process, once it holds a room socket:

- refreshes a heartbeat key `cv:web:<process>` every `WEB_HEARTBEAT_SECONDS`, expiring after
  `WEB_PROCESS_TTL_SECONDS`; `<process>` is the part of its channel names before the `!`, so each
  socket's channel name (kept in `Participant.sockets`) says which process holds it;
- every `WEB_SWEEP_SECONDS`, counts out the sockets held by processes whose heartbeat expired
  (a process killed with -9 runs no disconnect handler): presence and attendance are corrected and
  the room gets `participant.left` as for a closed socket;
- every second, asks Redis for its run id: when it changes, Redis restarted and lost the channel
  layer's groups, the media bus and the rate limits, so every room socket of this process closes
  with `CloseCode.RESTART` (4012) and its page reconnects, which puts its groups and its media back
  (permissions come from the database).

A process only sweeps after its own heartbeat has been written without a break for a whole TTL:
after Redis restarts, or comes back, the other live processes have had the time to beat again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio import Redis

from accounts.models import User
from media_server.bus import connect, server_id

from . import media
from .actions import presence
from .closecodes import CloseCode
from .models import Participant
from .notices import waiting_notices
from .timers import timers

log = logging.getLogger(__name__)

PREFIX = "cv:web"
SERVER_CHECK_S = 1.0


def process_of(channel: str) -> str:
    """The process part of a channel name (`specific.<process prefix>!<socket>`)."""
    return channel.split("!", 1)[0]


def heartbeat_key(process: str) -> str:
    return f"{PREFIX}:{process}"


@dataclass(frozen=True)
class Orphan:
    """A socket counted in the database whose process stopped beating."""

    room_id: str
    user: User
    channel: str


def open_sockets() -> list[Orphan]:
    """Every socket the database counts in a room that has not ended."""
    rows = (
        Participant.objects.filter(connections__gt=0, room__ended_at__isnull=True)
        .exclude(sockets=[])
        .select_related("user")
    )
    return [Orphan(str(row.room_id), row.user, channel) for row in rows for channel in row.sockets]


class ProcessWatch:
    """The heartbeat, the sweeper and the Redis watch of this process, on the ASGI server's loop."""

    def __init__(self) -> None:
        self.redis: Redis = connect(settings.REDIS_URL, timeout=2)
        self.process = ""
        self.server: str | None = None
        # since when our own heartbeat has been written without a break
        self.beating_since: float | None = None

    async def run(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        self.process = process_of(await layer.new_channel())
        beat_every = settings.WEB_HEARTBEAT_SECONDS
        sweep_every = settings.WEB_SWEEP_SECONDS
        last_beat = last_sweep = 0.0
        while True:
            now = time.monotonic()
            try:
                await self.check_server()
                if now - last_beat >= beat_every:
                    await self.beat()
                    last_beat = now
            except Exception as exc:
                self.beating_since = None
                log.warning("web process heartbeat: Redis does not answer (%s)", exc.__class__.__name__)
            if now - last_sweep >= sweep_every and self.beating_since is not None:
                if now - self.beating_since >= settings.WEB_PROCESS_TTL_SECONDS:
                    last_sweep = now
                    try:
                        await self.sweep()
                    except Exception:
                        log.exception("could not count out the sockets of stopped web processes")
            await asyncio.sleep(SERVER_CHECK_S)

    async def beat(self) -> None:
        await self.redis.set(heartbeat_key(self.process), str(time.time()), ex=settings.WEB_PROCESS_TTL_SECONDS)
        if self.beating_since is None:
            self.beating_since = time.monotonic()

    async def check_server(self) -> None:
        """Close every room socket of this process if Redis restarted since the last look."""
        current = await server_id(self.redis)
        previous, self.server = self.server, current
        if previous is None or previous == current:
            return
        # Lazy: consumers imports this module (it starts the watch), so this one cannot import it at the top.
        from .consumers import close_every_socket

        # the other processes' heartbeats went with it: no sweeping before they beat again
        self.beating_since = None
        closed = await close_every_socket(CloseCode.RESTART)
        log.warning("Redis restarted: %d room sockets of this process closed, their pages reconnect", closed)

    async def sweep(self) -> int:
        """Count out the sockets of processes whose heartbeat expired; return how many."""
        sockets = await database_sync_to_async(open_sockets)()
        others = sorted({process_of(s.channel) for s in sockets} - {self.process})
        if not others:
            return 0
        beats = await self.redis.mget([heartbeat_key(process) for process in others])
        dead = {process for process, beat in zip(others, beats, strict=True) if beat is None}
        orphans = [s for s in sockets if process_of(s.channel) in dead]
        for orphan in orphans:
            await count_out(orphan)
        if orphans:
            log.warning("counted out %d sockets of %d stopped web processes", len(orphans), len(dead))
        return len(orphans)


async def count_out(orphan: Orphan) -> None:
    """What the socket's own disconnect would have done: media owner, presence, attendance."""
    await media.socket_closed(orphan.room_id, str(orphan.user.pk), orphan.channel)
    leaving = await database_sync_to_async(presence.do_disconnect)(orphan.room_id, orphan.user, None, orphan.channel)
    if leaving.check_at is not None:
        timers.recess_check(orphan.room_id, leaving.check_at)
    if leaving.waiting_changed:
        waiting_notices.changed(orphan.room_id)


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def start() -> None:
    """Start this process's watch on the ASGI server's loop, once (several processes only)."""
    if not settings.REDIS_URL or settings.WEB_HEARTBEAT_SECONDS <= 0:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    task = _watches.get(loop)
    if task is None or task.done():
        _watches[loop] = loop.create_task(ProcessWatch().run())
