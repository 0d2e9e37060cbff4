"""Fan-out of room events through the channel layer, only once the transaction commits.

This is the one module the action layer uses to reach sockets (and the media forwarder),
so the same code works with the in-memory layer and with Redis across ASGI processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .protocol import Event, dump

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


def _group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


def send_event_on_commit(group: str, event: Event) -> None:
    """Send an event to a group once the current transaction (if any) commits."""
    message = {"type": EVENT, "event": dump(event)}
    transaction.on_commit(lambda: _group_send(group, message))


def send_control_on_commit(group: str, action: str, **data: Any) -> None:
    """Tell the consumers of a group to change their own state (join groups, close...)."""
    message = {"type": CONTROL, "action": action, **data}
    transaction.on_commit(lambda: _group_send(group, message))


def call_on_commit(function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
    """Run an async function of the media bridge once the transaction commits."""
    transaction.on_commit(lambda: async_to_sync(function)(*args, **kwargs))
