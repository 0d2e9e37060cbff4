"""The bridge from the app to the media forwarder (media_server never imports us).

The room consumer hands every `media.*` message of an admitted participant to
`handle_media_message`; the action layer calls `update_permissions` whenever
what a participant may publish changes (room permissions, presenter rights,
mute, safe mode), and `participant_left` / `room_closed` on the way out.

In the embedded default the forwarder (a `media_server.MediaNode`) runs in this
process, on the ASGI event loop. What it sends to a browser goes through the
channel layer to that user's sockets; what it reports as published goes
through the action layer (`participant.updated`).

`backend()` is the one place that tells the two apart (`EmbeddedBackend`, `BusBackend`). With
`REDIS_URL` set the forwarders are separate processes (`python -m media_server`) reached
over the bus (`media_server.bus`): rooms are placed on the least-loaded live node, commands go
to that node, and one ASGI process at a time (the dispatcher, under a Redis lock) delivers the
nodes' events to sockets and notices dead nodes, telling their rooms' participants to reconnect.

One socket owns a user's media in a room: the last one that sent `media.join` (a user may have
several tabs, or a phone and a computer, in the same room). The node's messages for that user go
to the owner's channel only; the other sockets' media messages are refused (`conflict`), except
`media.join`, which takes the media over and tells the previous owner `media.moved`. The owners
live in this process (embedded) or in Redis next to the peers hash (`cv:media:owners:<room>`).

Redis may restart and lose the bus's state: `classroom.heartbeat` closes every room socket so
that pages reconnect and join again; each `media.join` puts the participant's permissions back
from the database first, and the bus makes the rest again (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver
from redis.asyncio import Redis

from media_server.bus import PREFIX, BusClient, Event, EventHandler, LostHandler, connect
from media_server.node import MediaNode, tune_collector
from media_server.protocol import CLIENT_TYPES, MediaError, Reconnect

from . import events
from . import protocol as p

log = logging.getLogger(__name__)

# One forwarder per event loop: the ASGI server has one; each async test has its own.
_nodes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaNode] = weakref.WeakKeyDictionary()
# Publishing flags being written (a task only weakly referenced by the loop could vanish).
_writes: set[asyncio.Task[None]] = set()
# Embedded mode: (room, user) -> channel name of the socket that owns the user's media, per loop.
_owners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], str]] = weakref.WeakKeyDictionary()

NOT_OWNER = (
    "conflict",
    "Your camera, microphone and videos are in another tab or device; send media.join to use them here.",
)

# Replace the owner only if it is still the expected one (ARGV[2]); ARGV[3] empty deletes it.
# Returns 1 when it did.
_OWNER_SWAP = (
    "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end "
    "if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) "
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end return 1"
)


def owners_key(room_id: str) -> str:
    """Redis hash user -> channel name of the socket owning that user's media, next to `peers:<room>`."""
    return f"{PREFIX}:owners:{room_id}"


def _local_owners() -> dict[tuple[str, str], str]:
    loop = asyncio.get_running_loop()
    owners = _owners.get(loop)
    if owners is None:
        owners = _owners[loop] = {}
    return owners


async def _deliver(room_id: str, user_id: str, message: dict[str, Any], owner: str | None) -> None:
    """To the owning socket's channel; to all the user's sockets if none owns the media (yet).

    A full channel drops the message (`events.send_to_channel`): the forwarder may be in the middle
    of a moderator's mute, which a socket that stopped reading must not fail.
    """
    event = {"type": events.EVENT, "event": message}
    if owner:
        await events.send_to_channel(owner, event)
    else:
        await events.group_send(events.user_group(room_id, user_id), event)


async def _send_to_user(room_id: str, user_id: str, message: dict[str, Any]) -> None:
    """The embedded node's send callback."""
    await _deliver(room_id, user_id, message, _local_owners().get((room_id, user_id)))


async def _redis_owner(redis: Redis, room_id: str, user_id: str) -> str | None:
    value = await redis.hget(owners_key(room_id), user_id)
    return _text(value) if value is not None else None


@dataclass(frozen=True)
class ActionHooks:
    """What the bridge calls back in the action layer, which imports this module (set at start)."""

    set_publishing: Callable[..., None]
    """`do_set_publishing(room_id, user_id, audio=, video=, screen=)`: record what is forwarded."""
    permissions: Callable[[str, str], dict[str, bool] | None]
    """`publish_permissions(room_id, user_id)`: what a participant may publish, from the database."""


_hooks: ActionHooks | None = None


def connect_actions(hooks: ActionHooks) -> None:
    """Give the bridge its way back into the action layer (`ClassroomConfig.ready`)."""
    global _hooks
    _hooks = hooks


def _reports() -> ActionHooks:
    assert _hooks is not None, "classroom.media.connect_actions was not called"
    return _hooks


async def _on_sources(room_id: str, user_id: str, live: dict[str, bool]) -> None:
    """Record what the forwarder reports as published, without waiting for the database.

    The forwarder calls this under its room lock, which an action may be waiting for from the very
    sync thread this write needs; and its policy task kept the context of the socket call that
    started it, whose sync executor is gone: so the write runs later, from a fresh context.
    """
    write = database_sync_to_async(_reports().set_publishing)(room_id, user_id, **live)
    task = asyncio.get_running_loop().create_task(write, context=contextvars.Context())
    _writes.add(task)
    task.add_done_callback(_written)


SPEAKING_KEY = "cv:speaking:{}"
SPEAKING_TTL_S = 60


def speaking(room_id: str) -> list[str]:
    """Who speaks in a room now, by the forwarder's levels (the last `speaking` event's ids).

    Readable from any process (the cache is Redis with `REDIS_URL`); [] when nobody spoke lately.
    """
    ids = cache.get(SPEAKING_KEY.format(room_id))
    return list(ids) if isinstance(ids, list) else []


async def _on_speaking(room_id: str, ids: list[str]) -> None:
    """Tell the room who speaks now (the forwarder reports each change), and keep it for readers."""
    event = {"type": events.EVENT, "event": p.dump(p.Speaking(ids=ids))}
    await events.group_send(events.room_group(room_id), event)
    # the cache is not the database: a worker thread of its own, never the sync thread of the actions
    remember = sync_to_async(cache.set, thread_sensitive=False)
    task = asyncio.get_running_loop().create_task(
        remember(SPEAKING_KEY.format(room_id), ids, SPEAKING_TTL_S), context=contextvars.Context()
    )
    _writes.add(task)
    task.add_done_callback(_remembered)


def _remembered(task: asyncio.Task[None]) -> None:
    _writes.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not keep who speaks", exc_info=task.exception())


def _written(task: asyncio.Task[None]) -> None:
    _writes.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("could not record published sources", exc_info=task.exception())


def get_node() -> MediaNode:
    """Return this event loop's forwarder, starting it on first use."""
    loop = asyncio.get_running_loop()
    node = _nodes.get(loop)
    if node is None:
        # this process now forwards media: no long pauses for full garbage collections
        tune_collector()
        node = MediaNode(
            _send_to_user,
            public_ip=settings.MEDIA_PUBLIC_IP or None,
            turn_url=settings.TURN_URL or None,
            turn_secret=settings.TURN_SECRET or None,
            last_n=settings.MEDIA_LAST_N,
            on_sources=_on_sources,
            on_speaking=_on_speaking,
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

    def __init__(self, url: str) -> None:
        self.redis: Redis = connect(url)
        self.client = BusClient(self.redis)
        self._sources: asyncio.Queue[tuple[str, str, dict[str, bool]]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(
                self.client.dispatch(_deliver_event(self.redis, self._sources), _node_lost(self.redis, self._sources))
            ),
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
        pending = set(self._tasks)
        # a cancellation that lands inside redis-py's own awaits can be swallowed there (the
        # dispatcher then loops on): cancel again until both tasks have ended
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                log.error("the media bus task %s failed", task.get_name(), exc_info=task.exception())
        await self.redis.aclose()


# One per long-lived event loop (the ASGI server's, or a test's).
_clusters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Cluster] = weakref.WeakKeyDictionary()


def _deliver_event(redis: Redis, sources: asyncio.Queue[tuple[str, str, dict[str, bool]]]) -> EventHandler:
    async def deliver(event: Event) -> None:
        if event.kind == "send":
            owner = await _redis_owner(redis, event.room, event.peer)
            await _deliver(event.room, event.peer, event.body, owner)
        elif event.kind == "speaking":
            await _on_speaking(event.room, [str(peer) for peer in event.body.get("ids", [])])
        else:
            sources.put_nowait((event.room, event.peer, event.body))

    return deliver


def _node_lost(redis: Redis, sources: asyncio.Queue[tuple[str, str, dict[str, bool]]]) -> LostHandler:
    async def lost(room_id: str, peers: list[str]) -> None:
        log.warning("media of room %s lost with its node; %d participants reconnect", room_id, len(peers))
        message = Reconnect(reason="node_lost").model_dump()
        for peer in peers:
            await _deliver(room_id, peer, message, await _redis_owner(redis, room_id, peer))
            sources.put_nowait((room_id, peer, {"audio": False, "video": False, "screen": False}))

    return lost


async def close_bus() -> None:
    """Stop this loop's dispatcher and close its Redis connections (tests; the process's end)."""
    cluster = _clusters.pop(asyncio.get_running_loop(), None)
    if cluster is not None:
        await cluster.close()


class MediaBackend(ABC):
    """Where this process's media goes: the forwarder in this process, or the nodes over the bus.

    Owners (which socket holds a user's media in a room) live with the backend: in this process
    for the embedded node, in Redis next to the peers hash for the bus.
    """

    mode: str

    @abstractmethod
    async def handle(self, room_id: str, user_id: str, body: dict[str, Any]) -> None:
        """Pass one media message on; raise `MediaError` if the forwarder refuses it."""

    @abstractmethod
    async def set_permissions(
        self, room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
    ) -> None:
        """Tell the forwarder what this participant may publish now."""

    @abstractmethod
    async def leave(self, room_id: str, user_id: str) -> None:
        """Stop forwarding to and from this participant."""

    @abstractmethod
    async def close_room(self, room_id: str) -> None:
        """Tear down the room's media and forget its owners."""

    @abstractmethod
    async def owner(self, room_id: str, user_id: str) -> str | None:
        """The channel name of the socket owning the user's media in the room, if any."""

    @abstractmethod
    async def take(self, room_id: str, user_id: str, channel: str) -> str | None:
        """Make channel the owner; return the previous one."""

    @abstractmethod
    async def give_back(self, room_id: str, user_id: str, channel: str, to: str | None) -> bool:
        """If channel still owns the media, hand it to `to` (None: to nobody); say whether it did."""

    @abstractmethod
    async def health(self) -> dict[str, Any]:
        """Forwarder state for /healthz."""

    @abstractmethod
    async def before_join(self, room_id: str, user_id: str) -> None:
        """Make ready for a participant's media.join."""

    @abstractmethod
    async def nodes(self) -> list[dict[str, Any]]:
        """The forwarders as /metrics counts them: each an `id` and its `load` (none when unreachable)."""

    @abstractmethod
    async def relay(self, room_id: str, user_id: str, to_rooms: list[str], on: bool) -> None:
        """Let a participant's microphone be heard in other rooms too (on), or no longer."""

    @abstractmethod
    async def colocate(self, room_ids: list[str], near: str) -> None:
        """Have these rooms' media where `near`'s is, so that they can hear it (relay)."""


class EmbeddedBackend(MediaBackend):
    """The forwarder runs in this process, on the ASGI event loop (one per loop)."""

    mode = "in-process"

    async def handle(self, room_id: str, user_id: str, body: dict[str, Any]) -> None:
        await get_node().handle(room_id, user_id, body)

    async def set_permissions(
        self, room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
    ) -> None:
        await get_node().set_permissions(
            room_id, user_id, audio=audio, video=video, screen=screen, always_forward=always_forward
        )

    async def leave(self, room_id: str, user_id: str) -> None:
        node = running_node()
        if node is not None:
            await node.leave(room_id, user_id)

    async def relay(self, room_id: str, user_id: str, to_rooms: list[str], on: bool) -> None:
        node = running_node()
        if node is not None:
            await node.relay(room_id, user_id, to_rooms, on)

    async def colocate(self, room_ids: list[str], near: str) -> None:
        """One node holds every room here."""

    async def close_room(self, room_id: str) -> None:
        owners = _local_owners()
        for key in [key for key in owners if key[0] == room_id]:
            del owners[key]
        node = running_node()
        if node is not None:
            # its members' pages move to another room (a breakout group closing) and resume there
            await node.close_room(room_id, park=True)

    async def owner(self, room_id: str, user_id: str) -> str | None:
        return _local_owners().get((room_id, user_id))

    async def take(self, room_id: str, user_id: str, channel: str) -> str | None:
        owners = _local_owners()
        previous = owners.get((room_id, user_id))
        owners[(room_id, user_id)] = channel
        return previous

    async def give_back(self, room_id: str, user_id: str, channel: str, to: str | None) -> bool:
        owners = _local_owners()
        if owners.get((room_id, user_id)) != channel:
            return False
        if to is None:
            del owners[(room_id, user_id)]
        else:
            owners[(room_id, user_id)] = to
        return True

    async def before_join(self, room_id: str, user_id: str) -> None:
        """Nothing: the node's copy of the permissions lives in this process, as long as it does."""

    async def health(self) -> dict[str, Any]:
        node = running_node() or next(iter(_nodes.values()), None)
        return {"status": "ok", "mode": self.mode, **(node.stats() if node is not None else {"rooms": 0})}

    async def nodes(self) -> list[dict[str, Any]]:
        node = running_node()
        return [{"id": "in-process", "load": node.stats() if node is not None else {}}]


class BusBackend(MediaBackend):
    """The forwarders are `python -m media_server` nodes reached over the Redis bus at `url`."""

    mode = "redis"

    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.asynccontextmanager
    async def bus(self) -> AsyncIterator[BusClient]:
        """The bus client for this call: the loop's own on the main thread, else one for this call only.

        Only the ASGI server's loop (the main thread's) lives long enough to run the dispatcher;
        `async_to_sync` in a Celery worker or a thread makes a loop per call.
        """
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            cluster = _clusters.get(loop)
            if cluster is None:
                cluster = _clusters[loop] = _Cluster(self.url)
            yield cluster.client
            return
        redis: Redis = connect(self.url)
        try:
            yield BusClient(redis)
        finally:
            await redis.aclose()

    async def handle(self, room_id: str, user_id: str, body: dict[str, Any]) -> None:
        async with self.bus() as bus:
            await bus.handle(room_id, user_id, body)

    async def set_permissions(
        self, room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
    ) -> None:
        async with self.bus() as bus:
            await bus.set_permissions(
                room_id, user_id, audio=audio, video=video, screen=screen, always_forward=always_forward
            )

    async def leave(self, room_id: str, user_id: str) -> None:
        async with self.bus() as bus:
            await bus.leave(room_id, user_id)

    async def relay(self, room_id: str, user_id: str, to_rooms: list[str], on: bool) -> None:
        # heard in the rooms placed on the node of the speaker's room (docs/protocol.md, "Breakout groups")
        async with self.bus() as bus:
            await bus.relay(room_id, user_id, to_rooms, on)

    async def colocate(self, room_ids: list[str], near: str) -> None:
        async with self.bus() as bus:
            for room_id in room_ids:
                await bus.place_near(room_id, near)

    async def close_room(self, room_id: str) -> None:
        async with self.bus() as bus:
            await bus.close_room(room_id)
            await bus.redis.delete(owners_key(room_id))

    async def owner(self, room_id: str, user_id: str) -> str | None:
        async with self.bus() as bus:
            return await _redis_owner(bus.redis, room_id, user_id)

    async def take(self, room_id: str, user_id: str, channel: str) -> str | None:
        async with self.bus() as bus, bus.redis.pipeline(transaction=True) as pipe:
            pipe.hget(owners_key(room_id), user_id)
            pipe.hset(owners_key(room_id), user_id, channel)
            got, _ = await pipe.execute()
        return _text(got) if got is not None else None

    async def give_back(self, room_id: str, user_id: str, channel: str, to: str | None) -> bool:
        async with self.bus() as bus:
            return bool(await bus.redis.eval(_OWNER_SWAP, 1, owners_key(room_id), user_id, channel, to or ""))

    async def health(self) -> dict[str, Any]:
        try:
            live = await live_nodes()
        except Exception as exc:
            return {"status": f"down: {exc.__class__.__name__}", "mode": self.mode, "nodes": []}
        return {"status": "ok" if live else "down: no media node", "mode": self.mode, "nodes": live}

    async def nodes(self) -> list[dict[str, Any]]:
        try:
            return await live_nodes()
        except Exception:
            return []  # Redis is down: no node can be reached, which /healthz reports in words

    async def before_join(self, room_id: str, user_id: str) -> None:
        """Put what the participant may publish on the bus again, as the database says.

        The bus keeps its copy in Redis, which a Redis restart empties: without this a page joining
        again would publish under the bus's default, everything refused.
        """
        try:
            allowed = await database_sync_to_async(_reports().permissions)(room_id, user_id)
        except DatabaseError:
            log.warning("database unavailable: media.join of %s in %s keeps the bus's permissions", user_id, room_id)
            return
        if allowed is not None:
            await self.set_permissions(room_id, user_id, **allowed)


@functools.cache
def _backend_for(redis_url: str) -> MediaBackend:
    return BusBackend(redis_url) if redis_url else EmbeddedBackend()


def backend() -> MediaBackend:
    """This process's media backend, chosen once per value of `REDIS_URL` (tests change it)."""
    return _backend_for(settings.REDIS_URL)


@receiver(setting_changed, dispatch_uid="classroom.media.backend")
def _forget_backend(sender: Any, setting: str, **kwargs: Any) -> None:
    if setting == "REDIS_URL":
        _backend_for.cache_clear()


async def handle_media_message(
    room_id: str, user_id: str, message: dict[str, Any], channel: str | None = None
) -> tuple[str, str] | None:
    """Pass a media.* message from an admitted participant on; return (code, message) if refused.

    `channel` is the sending socket's channel name: its media.join makes it the owner of the
    user's media in the room (the previous owner gets `media.moved`); its other messages are
    refused with `conflict` unless it is the owner. Without a channel nothing is checked.
    """
    media = backend()
    body = {key: value for key, value in message.items() if key != "ref"}
    if body.get("type") not in CLIENT_TYPES:
        # whoever owns the media: an unknown type is the page's mistake, not another tab's media
        return "invalid", f"unknown message type {str(body.get('type'))[:50]!r}"
    if channel is None:
        return await _handle(media, room_id, user_id, body)
    if body.get("type") != "media.join":
        if await media.owner(room_id, user_id) != channel:
            return NOT_OWNER
        return await _handle(media, room_id, user_id, body)
    await media.before_join(room_id, user_id)
    # Take the media first, so that the node's media.joined and offer come here.
    previous = await media.take(room_id, user_id, channel)
    if previous is not None and previous != channel:
        # another socket holds the media here: this join takes it over with new connections
        body.pop("resume", None)
    refused = await _handle(media, room_id, user_id, body)
    if refused is not None:
        await media.give_back(room_id, user_id, channel, previous)  # a refused join takes nothing over
        return refused
    if previous is not None and previous != channel:
        # The other socket's publish connection goes (this one offers its own), and it is told.
        await _handle(media, room_id, user_id, {"type": "media.restart", "pc": "publish"})
        await events.send_to_channel(previous, {"type": events.EVENT, "event": p.dump(p.MediaMoved())})
    return None


async def _handle(media: MediaBackend, room_id: str, user_id: str, body: dict[str, Any]) -> tuple[str, str] | None:
    try:
        await media.handle(room_id, user_id, body)
    except MediaError as exc:
        return exc.code, exc.message
    return None


async def socket_closed(room_id: str, user_id: str, channel: str) -> None:
    """A socket closed: if it owned the user's media, nobody does now (the next media.join takes it).

    The user's other sockets still in the room (the tab that lost the media to this one) are told
    with media.released, so that a page showing "in another tab" can take it back by itself.
    """
    try:
        if await backend().give_back(room_id, user_id, channel, None):
            # nobody owns the media now: this goes to the user's sockets in the room (not this one,
            # which left its groups)
            await _deliver(room_id, user_id, p.dump(p.MediaReleased()), None)
    except Exception:  # the socket's own leaving must go on
        log.exception("could not drop the media owner %s of %s in %s", channel, user_id, room_id)


async def update_permissions(
    room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
) -> None:
    """Tell the forwarder what this participant may publish now; it stops the rest at once."""
    await backend().set_permissions(
        room_id, user_id, audio=audio, video=video, screen=screen, always_forward=always_forward
    )


async def relay(room_id: str, user_id: str, to_rooms: list[str], on: bool) -> None:
    """Let a participant's microphone be heard in other rooms too (the teacher speaking to every group)."""
    await backend().relay(room_id, user_id, to_rooms, on)


async def colocate(room_ids: list[str], near: str) -> None:
    """Place these rooms' media with `near`'s (a lesson's breakout groups with the lesson), if it has some."""
    await backend().colocate(room_ids, near)


async def participant_left(room_id: str, user_id: str) -> None:
    """Stop forwarding to and from a participant who left."""
    await backend().leave(room_id, user_id)


async def room_closed(room_id: str) -> None:
    """Tear down the room's media."""
    await backend().close_room(room_id)


async def media_health() -> dict[str, Any]:
    """Forwarder state for /healthz: in-process counters, or the live nodes and their load."""
    return await backend().health()


async def live_nodes() -> list[Any]:
    """The media nodes whose heartbeat is current, with their load (`REDIS_URL` set)."""
    redis: Redis = connect(settings.REDIS_URL, timeout=2)
    try:
        return list(await BusClient(redis).live_nodes())
    finally:
        await redis.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
