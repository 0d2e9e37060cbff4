"""Fan-out of room events through the channel layer, only once the transaction commits.

This is the one module the action layer uses to reach sockets (and the media forwarder),
so the same code works with the in-memory layer and with Redis across ASGI processes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import transaction

from config.metrics import CHANNEL_FULL

from .protocol import Event, dump

log = logging.getLogger(__name__)

# Channel-layer message types the room consumer handles.
EVENT = "room.event"  # send `event` to the socket
CONTROL = "room.control"  # `action`: admitted, refused, ended, leave


def room_group(room_id: UUID | str) -> str:
    """Every admitted socket of the room."""
    return f"room-{room_id}"


def moderators_group(room_id: UUID | str) -> str:
    return f"room-{room_id}-mod"


def everyone_group(room_id: UUID | str) -> str:
    """Every socket of the room, waiting ones included."""
    return f"room-{room_id}-all"


def user_group(room_id: UUID | str, user_id: int | str) -> str:
    """Every socket of one user in the room (their tabs, on any process)."""
    return f"room-{room_id}-user-{user_id}"


def account_group(user_id: int | str) -> str:
    """Every room socket of one user, in every room (closed when they log out)."""
    return f"user-{user_id}"


async def send_to_channel(channel: str, message: dict[str, Any]) -> bool:
    """Send to one socket's channel; a full channel (a socket not reading) drops it, never raises.

    Whoever sends is another user's action or the media forwarder: a slow or stuck receiver must
    not fail it. Returns whether the message was queued.
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        await layer.send(channel, message)
    except ChannelFull:
        CHANNEL_FULL.inc()
        log.warning("dropped a %s for %s: its channel is full", message.get("type"), channel)
        return False
    return True


async def group_send(group: str, message: dict[str, Any]) -> None:
    """Send to a group; the layers drop what a full channel cannot take, this drops the rest too."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, message)
    except ChannelFull:
        CHANNEL_FULL.inc()
        log.warning("dropped a %s for group %s: a channel is full", message.get("type"), group)


def _group_send(group: str, message: dict[str, Any]) -> None:
    async_to_sync(group_send)(group, message)


def send_event_on_commit(group: str, event: Event) -> None:
    """Send an event to a group once the current transaction (if any) commits.

    `robust`: a failed fan-out (Redis gone) is logged, never raised into the action that caused
    it, whose changes are committed already.
    """
    message = {"type": EVENT, "event": dump(event)}
    transaction.on_commit(lambda: _group_send(group, message), robust=True)


def send_control_on_commit(group: str, action: str, **data: Any) -> None:
    """Tell the consumers of a group to change their own state (join groups, close...)."""
    message = {"type": CONTROL, "action": action, **data}
    transaction.on_commit(lambda: _group_send(group, message), robust=True)


def call_on_commit(function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
    """Run an async function of the media bridge once the transaction commits (logged if it fails)."""
    transaction.on_commit(lambda: async_to_sync(function)(*args, **kwargs), robust=True)
