"""Fan-out of room events through the channel layer, only once the transaction commits.

This is the one module the action layer uses to reach sockets (and the media forwarder),
so the same code works with the in-memory layer and with Redis across ASGI processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from config.metrics import CHANNEL_FULL

from .protocol import Event, dump

log = logging.getLogger(__name__)

# Channel-layer message types the room consumer handles.
EVENT = "room.event"  # send `event` to the socket
EVENTS = "room.events"  # send each of `events` to the socket, in order (a batch, see Fanout)
CONTROL = "room.control"  # `action`: admitted, refused, ended, leave
TEXT = "room.text"  # send `text`, an event serialised once for every socket (see send_text)


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


async def send_text(group: str, event: Event) -> None:
    """Send a frequent event that sockets only relay (drawing's points) as JSON text made once.

    A `room.event` is copied for each socket by the in-memory layer and serialised by each socket;
    a string is neither. No consumer hook sees it, and nothing waits for a transaction: for events
    of no stored change.
    """
    await group_send(group, {"type": TEXT, "text": json.dumps(dump(event), ensure_ascii=False)})


def _group_send(group: str, message: dict[str, Any]) -> None:
    async_to_sync(group_send)(group, message)


# Presence events: in a join storm each arrival goes to everyone present, which made seating a
# class quadratic in channel-layer messages (with Redis, one message per socket per event).
BATCHED = frozenset({"participant.joined", "participant.left", "participant.updated"})


class Fanout:
    """This process's room events, in order per room, presence batched under load.

    A presence event goes out at once when its room sent none within `window` seconds; otherwise
    it waits, at most `window`, and leaves with the others as one channel-layer message per group
    (`room.events`), which each socket relays as separate frames. Any other event for the room
    (whatever its group: moderators', one user's) first sends what is waiting, then itself, so the
    room's events keep their order. Quiet rooms see no change; during a join storm of 200 each
    socket gets a handful of batches instead of one message per arrival.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, window: float) -> None:
        self.loop = loop
        self.window = window
        self.pending: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.busy: set[str] = set()
        # one lock per room while someone holds or awaits it (a lock held nowhere goes away)
        self.locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def submit(self, group: str, event: dict[str, Any]) -> None:
        await self.submit_many([(group, event)])

    async def submit_many(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Send events in order; those of one room that follow each other leave together."""
        start = 0
        while start < len(batch):
            room = room_of(batch[start][0])
            end = start + 1
            while end < len(batch) and room_of(batch[end][0]) == room:
                end += 1
            await self._submit_room(room, batch[start:end])
            start = end

    async def _submit_room(self, room: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        batched = [event.get("type") in BATCHED for _, event in items]
        if all(batched) and room in self.busy:
            self.pending.setdefault(room, []).extend(items)
            return
        async with self._lock(room):
            await self._send(self.pending.pop(room, []) + items)
        if any(batched) and room not in self.busy:
            self.busy.add(room)
            self.loop.create_task(self._drain(room))

    def _lock(self, room: str) -> asyncio.Lock:
        lock = self.locks.get(room)
        if lock is None:
            lock = self.locks[room] = asyncio.Lock()
        return lock

    async def _drain(self, room: str) -> None:
        while True:
            await asyncio.sleep(self.window)
            async with self._lock(room):
                batch = self.pending.pop(room, [])
                if not batch:
                    self.busy.discard(room)
                    return
                await self._send(batch)

    async def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Send in order, one channel-layer message per run of events to the same group."""
        for group, run in _runs(batch):
            try:
                await group_send(group, _message(run))
            except Exception:
                log.exception("could not send %d events to %s", len(run), group)


def room_of(group: str) -> str:
    """The room a group belongs to (`room-<id>` for all of a room's groups), else the group."""
    if group.startswith("room-") and len(group) >= ROOM_GROUP_LENGTH:
        return group[:ROOM_GROUP_LENGTH]
    return group


ROOM_GROUP_LENGTH = len("room-") + 36  # a UUID's text


_fanout: Fanout | None = None


def serve(loop: asyncio.AbstractEventLoop) -> None:
    """Send this process's room events through a Fanout on the ASGI server's loop (its sockets')."""
    global _fanout
    if _fanout is None or _fanout.loop is not loop:
        _fanout = Fanout(loop, settings.ROOM_PRESENCE_BATCH_SECONDS)


# The events of the database turn running in this thread, while `together()` collects them.
_turn = threading.local()


@contextmanager
def together() -> Iterator[None]:
    """Send the events this block sends on commit when it ends, one channel-layer message per group.

    For one action's database turn: a raised hand's `hands` and `participant.updated` are one
    `PUBLISH`, not two (issue 19: each round trip is wake-ups of processes waiting for a CPU).
    The order is kept: a control or a media call sent on commit meanwhile first sends the events
    collected before it. They go when the block ends, whatever it raises: what they tell is
    committed. Nested blocks send with the outermost.
    """
    if getattr(_turn, "events", None) is not None:
        yield
        return
    _turn.events = []
    try:
        yield
    finally:
        try:
            _flush_turn()
        finally:
            # whatever the flush raised (a cancelled turn's CancelledError too): the next turn
            # of this thread must not find a collection open and keep its events
            _turn.events = None


def _flush_turn() -> None:
    """Send what together() collected so far (a control or a media call is about to go after it).

    A failure is logged, never raised: the changes are committed (as `on_commit(robust=True)`).
    """
    collected: list[tuple[str, dict[str, Any]]] | None = getattr(_turn, "events", None)
    if not collected:
        return
    batch = collected[:]
    collected.clear()
    try:
        _send_events(batch)
    except Exception:
        log.exception("could not send %d events", len(batch))


def _send_event(group: str, event: dict[str, Any]) -> None:
    collected: list[tuple[str, dict[str, Any]]] | None = getattr(_turn, "events", None)
    if collected is not None:
        collected.append((group, event))
        return
    _send_events([(group, event)])


def _send_events(batch: list[tuple[str, dict[str, Any]]]) -> None:
    fanout = _fanout
    if fanout is None or not fanout.loop.is_running() or settings.ROOM_PRESENCE_BATCH_SECONDS <= 0:
        for group, run in _runs(batch):
            try:
                _group_send(group, _message(run))
            except Exception:  # as each on_commit(robust=True) was: the other groups still get theirs
                log.exception("could not send %d events to %s", len(run), group)
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is fanout.loop:  # never from the loop's own thread (no database there), but never block it
        fanout.loop.create_task(fanout.submit_many(batch))
        return
    # Wait until the events are sent or queued: when they go at once, as before, they reach the
    # channel layer before the action's reply does.
    asyncio.run_coroutine_threadsafe(fanout.submit_many(batch), fanout.loop).result(timeout=SUBMIT_TIMEOUT_S)


def _message(run: list[dict[str, Any]]) -> dict[str, Any]:
    """The channel-layer message of a run of events to one group: one event, or a batch."""
    return {"type": EVENT, "event": run[0]} if len(run) == 1 else {"type": EVENTS, "events": run}


def _runs(batch: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The events of a batch in order, one list per run of events to the same group."""
    start = 0
    while start < len(batch):
        group = batch[start][0]
        end = start + 1
        while end < len(batch) and batch[end][0] == group:
            end += 1
        yield group, [event for _, event in batch[start:end]]
        start = end


SUBMIT_TIMEOUT_S = 15.0


def send_event_on_commit(group: str, event: Event) -> None:
    """Send an event to a group once the current transaction (if any) commits.

    `robust`: a failed fan-out (Redis gone) is logged, never raised into the action that caused
    it, whose changes are committed already.
    """
    data = dump(event)
    transaction.on_commit(lambda: _send_event(group, data), robust=True)


def send_control_on_commit(group: str, action: str, *, ordered: bool = True, **data: Any) -> None:
    """Tell the consumers of a group to change their own state (join groups, close...).

    `ordered`: the events collected by together() before it go first (False for a control that
    only asks its consumers to read something again, such as the groups' overview).
    """
    message = {"type": CONTROL, "action": action, **data}

    def send() -> None:
        if ordered:
            _flush_turn()  # the events committed before it go first
        _group_send(group, message)

    transaction.on_commit(send, robust=True)


def call_on_commit(function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
    """Run an async function of the media bridge once the transaction commits (logged if it fails)."""

    def call() -> None:
        _flush_turn()  # the events committed before it go first
        async_to_sync(function)(*args, **kwargs)

    transaction.on_commit(call, robust=True)
