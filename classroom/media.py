"""The bridge from the app to the media forwarder (media_server never imports us).

The room consumer hands every `media.*` message of an admitted participant to
`handle_media_message`; the action layer calls `update_permissions` whenever
what a participant may publish changes (room permissions, presenter rights,
mute, safe mode), and `participant_left` / `room_closed` on the way out.

In the embedded default the forwarder (a `media_server.MediaNode`) runs in this
process, on the ASGI event loop. What it sends to a browser goes through the
channel layer to that user's sockets; what it reports as published goes
through the action layer (`participant.updated`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from media_server.node import MediaNode
from media_server.protocol import MediaError

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


async def handle_media_message(room_id: str, user_id: str, message: dict[str, Any]) -> tuple[str, str] | None:
    """Pass a media.* message from an admitted participant on; return (code, message) if refused."""
    body = {key: value for key, value in message.items() if key != "ref"}
    try:
        await get_node().handle(room_id, user_id, body)
    except MediaError as exc:
        return exc.code, exc.message
    return None


async def update_permissions(
    room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
) -> None:
    """Tell the forwarder what this participant may publish now; it stops the rest at once."""
    await get_node().set_permissions(
        room_id, user_id, audio=audio, video=video, screen=screen, always_forward=always_forward
    )


async def participant_left(room_id: str, user_id: str) -> None:
    """Stop forwarding to and from a participant who left."""
    node = running_node()
    if node is not None:
        await node.leave(room_id, user_id)


async def room_closed(room_id: str) -> None:
    """Tear down the room's media."""
    node = running_node()
    if node is not None:
        await node.close_room(room_id)


def media_health() -> dict[str, Any]:
    """Forwarder state for /healthz: in-process, with its counters once started."""
    node = next(iter(_nodes.values()), None)
    return {"status": "ok", "mode": "in-process", **(node.stats() if node is not None else {"rooms": 0})}
