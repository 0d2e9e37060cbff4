"""The bridge from the app to the media forwarder (media_server never imports us).

The room consumer hands every `media.*` message of an admitted participant to
`handle_media_message`; the action layer calls `update_permissions` whenever
what a participant may publish changes (room permissions, presenter rights,
mute, safe mode), and `participant_left` / `room_closed` on the way out.

In the embedded default the forwarder (a `media_server.MediaNode`) runs in this
process, on the ASGI event loop. What it sends to a browser goes through the
channel layer to that user's sockets; what it reports as published goes
through the action layer (`participant.updated`).

With `REDIS_URL` set the forwarders are separate processes (`python -m media_server`) reached
over the bus (`media_server.bus`): rooms are placed on the least-loaded live node, commands go
to that node, and one ASGI process at a time (the dispatcher, under a Redis lock) delivers the
nodes' events to sockets and notices dead nodes, telling their rooms' participants to reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import weakref
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from redis.asyncio import Redis

from media_server.bus import BusClient, Event, EventHandler, LostHandler
from media_server.node import MediaNode
from media_server.protocol import MediaError, Reconnect

from . import events

log = logging.getLogger(__name__)

# One forwarder per event loop: the ASGI server has one; each async test has its own.
_nodes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaNode] = weakref.WeakKeyDictionary()
# Publishing flags being written (a task only weakly referenced by the loop could vanish).
_writes: set[asyncio.Task[None]] = set()


async def _send_to_user(room_id: str, user_id: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(events.user_group(room_id, user_id), {"type": events.EVENT, "event": message})


async def _on_sources(room_id: str, user_id: str, live: dict[str, bool]) -> None:
    """Record what the forwarder reports as published, without waiting for the database.

    The forwarder calls this under its room lock, which an action may be waiting for from the very
    sync thread this write needs; and its policy task kept the context of the socket call that
    started it, whose sync executor is gone: so the write runs later, from a fresh context.
    """
    from .actions.publishing import do_set_publishing

    write = database_sync_to_async(do_set_publishing)(room_id, user_id, **live)
    task = asyncio.get_running_loop().create_task(write, context=contextvars.Context())
    _writes.add(task)
    task.add_done_callback(_written)


def _written(task: asyncio.Task[None]) -> None:
    _writes.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("could not record published sources", exc_info=task.exception())


def get_node() -> MediaNode:
    """Return this event loop's forwarder, starting it on first use."""
    loop = asyncio.get_running_loop()
    node = _nodes.get(loop)
    if node is None:
        node = MediaNode(
            _send_to_user,
            public_ip=settings.MEDIA_PUBLIC_IP or None,
            turn_url=settings.TURN_URL or None,
            turn_secret=settings.TURN_SECRET or None,
            last_n=settings.MEDIA_LAST_N,
            on_sources=_on_sources,
        )
        _nodes[loop] = node
    return node


def running_node() -> MediaNode | None:
    """The forwarder of the current event loop, if one was started."""
    try:
        return _nodes.get(asyncio.get_running_loop())
    except RuntimeError:
        return None


class _Cluster:
    """This process's side of the bus on one event loop, with the dispatcher task running."""

    def __init__(self) -> None:
        self.redis: Redis = Redis.from_url(settings.REDIS_URL)
        self.client = BusClient(self.redis)
        self._sources: asyncio.Queue[tuple[str, str, dict[str, bool]]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.client.dispatch(_deliver_event(self._sources), _node_lost(self._sources))),
            loop.create_task(self._publishing()),
        ]

    async def _publishing(self) -> None:
        # Database writes apart from the dispatcher, so that messages to browsers never wait for them.
        while True:
            room_id, user_id, live = await self._sources.get()
            try:
                await _on_sources(room_id, user_id, live)
            except Exception:
                log.exception("could not record the live sources of %s in %s", user_id, room_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()


# One per long-lived event loop (the ASGI server's, or a test's).
_clusters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Cluster] = weakref.WeakKeyDictionary()


def _deliver_event(sources: asyncio.Queue[tuple[str, str, dict[str, bool]]]) -> EventHandler:
    async def deliver(event: Event) -> None:
        if event.kind == "send":
            await _send_to_user(event.room, event.peer, event.body)
        else:
            sources.put_nowait((event.room, event.peer, event.body))

    return deliver


def _node_lost(sources: asyncio.Queue[tuple[str, str, dict[str, bool]]]) -> LostHandler:
    async def lost(room_id: str, peers: list[str]) -> None:
        log.warning("media of room %s lost with its node; %d participants reconnect", room_id, len(peers))
        message = Reconnect(reason="node_lost").model_dump()
        for peer in peers:
            await _send_to_user(room_id, peer, message)
            sources.put_nowait((room_id, peer, {"audio": False, "video": False, "screen": False}))

    return lost


@contextlib.asynccontextmanager
async def _bus() -> AsyncIterator[BusClient]:
    """The bus client for this call: the loop's own on the main thread, else one for this call only.

    Only the ASGI server's loop (the main thread's) lives long enough to run the dispatcher;
    `async_to_sync` in a Celery worker or a thread makes a loop per call.
    """
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        cluster = _clusters.get(loop)
        if cluster is None:
            cluster = _clusters[loop] = _Cluster()
        yield cluster.client
        return
    redis: Redis = Redis.from_url(settings.REDIS_URL)
    try:
        yield BusClient(redis)
    finally:
        await redis.aclose()


async def close_bus() -> None:
    """Stop this loop's dispatcher and close its Redis connections (tests; the process's end)."""
    cluster = _clusters.pop(asyncio.get_running_loop(), None)
    if cluster is not None:
        await cluster.close()


async def handle_media_message(room_id: str, user_id: str, message: dict[str, Any]) -> tuple[str, str] | None:
    """Pass a media.* message from an admitted participant on; return (code, message) if refused."""
    body = {key: value for key, value in message.items() if key != "ref"}
    try:
        if settings.REDIS_URL:
            async with _bus() as bus:
                await bus.handle(room_id, user_id, body)
        else:
            await get_node().handle(room_id, user_id, body)
    except MediaError as exc:
        return exc.code, exc.message
    return None


async def update_permissions(
    room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
) -> None:
    """Tell the forwarder what this participant may publish now; it stops the rest at once."""
    if settings.REDIS_URL:
        async with _bus() as bus:
            await bus.set_permissions(
                room_id, user_id, audio=audio, video=video, screen=screen, always_forward=always_forward
            )
        return
    await get_node().set_permissions(
        room_id, user_id, audio=audio, video=video, screen=screen, always_forward=always_forward
    )


async def participant_left(room_id: str, user_id: str) -> None:
    """Stop forwarding to and from a participant who left."""
    if settings.REDIS_URL:
        async with _bus() as bus:
            await bus.leave(room_id, user_id)
        return
    node = running_node()
    if node is not None:
        await node.leave(room_id, user_id)


async def room_closed(room_id: str) -> None:
    """Tear down the room's media."""
    if settings.REDIS_URL:
        async with _bus() as bus:
            await bus.close_room(room_id)
        return
    node = running_node()
    if node is not None:
        await node.close_room(room_id)


def media_health() -> dict[str, Any]:
    """Forwarder state for /healthz: in-process counters, or the live nodes and their load."""
    if settings.REDIS_URL:
        return _cluster_health()
    node = next(iter(_nodes.values()), None)
    return {"status": "ok", "mode": "in-process", **(node.stats() if node is not None else {"rooms": 0})}


def _cluster_health() -> dict[str, Any]:
    async def nodes() -> list[Any]:
        redis: Redis = Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        try:
            return list(await BusClient(redis).live_nodes())
        finally:
            await redis.aclose()

    try:
        live = asyncio.run(nodes())
    except Exception as exc:
        return {"status": f"down: {exc.__class__.__name__}", "mode": "redis", "nodes": []}
    return {"status": "ok" if live else "down: no media node", "mode": "redis", "nodes": live}
