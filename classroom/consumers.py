"""The room WebSocket (docs/protocol.md): parse, rate-limit, authorise through the actions, reply.

State lives in the database and events come through the channel layer, so several tabs and
several ASGI processes see the same room.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import User
from config.metrics import ERROR_REPLIES, FRAMES_DROPPED, SOCKET_FAILURES

from . import events, heartbeat, media, ratelimit
from . import protocol as p
from .actions import polls, presence, recess
from .actions.common import OVERVIEW, load_actor
from .actions.dispatch import CLOSE_HOOKS, HANDLERS, LIVE_HANDLERS, OWN_UPDATE_HOOKS
from .closecodes import CloseCode
from .group_live import deadlines, overviews
from .live_results import live_results
from .models import Room
from .notices import waiting_notices
from .permissions import Actor, Refused, check_may_send
from .timers import timers

logger = logging.getLogger(__name__)

# Unexpected failures of one socket tolerated before it is closed with 4400.
FAILURES = (5.0, 0.2)

# Cleanups still running after their consumer was cancelled (a strong reference keeps them alive).
_cleanups: set[asyncio.Task[None]] = set()
# The consumers of this process (benchmarks and tests look at their count).
sockets: weakref.WeakSet[RoomConsumer] = weakref.WeakSet()


class RoomConsumer(AsyncWebsocketConsumer):
    """One socket of one user in one room."""

    room_id: str
    room: Room | None = None
    moderator = False
    admitted = False
    counted = False
    closing = False
    cleaned = False
    listening = False  # a moderator listening in silently to a group: sound only (`?listen=1`)
    watchdog: asyncio.Task[None] | None = None
    frames: ratelimit.TokenBucket | None = None
    last_frame: float  # a recess socket's last frame, on the loop's clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the socket; whatever ends it (an exception, a cancellation), it is counted out."""
        sockets.add(self)
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            SOCKET_FAILURES.inc()
            logger.exception("room socket of %s failed", getattr(self, "user", None))
            raise
        finally:
            if not self.cleaned:
                # Its own task: a second cancellation (the server shutting down) does not stop it.
                task = asyncio.get_running_loop().create_task(self._cleanup())
                _cleanups.add(task)
                task.add_done_callback(_cleanups.discard)
                await asyncio.shield(task)

    async def connect(self) -> None:
        await self.accept()
        self.joined: list[str] = []
        # Polls whose final results this socket relayed: later live results would be older.
        self.settled_polls: set[str] = set()
        self.invalid = ratelimit.TokenBucket(*ratelimit.INVALID_FRAMES)
        self.failures = ratelimit.TokenBucket(*FAILURES)
        self.drops = ratelimit.dropped_frames_bucket()
        user = self.scope.get("user")
        # The auth middleware's lazy user passes for the User it wraps; AnonymousUser does not.
        if not isinstance(user, User) or not user.is_authenticated:
            await self._close(CloseCode.UNAUTHENTICATED)
            return
        self.user: User = user
        heartbeat.start()
        events.serve(asyncio.get_running_loop())
        self.room_id = str(self.scope["url_route"]["kwargs"]["room_id"])
        self.frames = ratelimit.frame_limits.acquire(self.room_id, str(user.pk))
        # Join the user's own groups first, so an admission cannot slip past this socket.
        await self._join(
            events.everyone_group(self.room_id),
            events.user_group(self.room_id, user.pk),
            events.account_group(user.pk),
        )
        listen = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("listen") == ["1"]
        entry = await database_sync_to_async(presence.do_connect)(self.room_id, user, self.channel_name, listen)
        self.listening = entry.listening
        if entry.outcome == "closed":
            await self._close(entry.close_code)
            return
        self.counted = True
        timers.socket_opened()
        for channel in entry.evicted:
            await events.send_to_channel(channel, {"type": events.CONTROL, "action": "superseded"})
        if entry.waiting_changed:
            waiting_notices.changed(self.room_id)
        if entry.check_at is not None:
            timers.recess_check(self.room_id, entry.check_at)
        if entry.recess:
            self.last_frame = asyncio.get_running_loop().time()
            self.watchdog = asyncio.get_running_loop().create_task(self._watch_heartbeat())
        if entry.outcome == "waiting":
            await self._send(p.Waiting(reason=entry.reason))
        else:
            await self._enter(entry.moderator)

    async def disconnect(self, code: int) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        """Leave the groups, release the media and count this socket out; once, each step on its own.

        One failing step (Redis gone) must not skip the others: a socket never counted out stays
        "present" and keeps its attendance row open.
        """
        if self.cleaned:
            return
        self.cleaned = True
        self.closing = True
        if self.watchdog is not None and self.watchdog is not asyncio.current_task():
            self.watchdog.cancel()
        live_results.forget(self._live_results)
        overviews.forget(self._overview)
        for group in getattr(self, "joined", []):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.exception("could not leave %s", group)
        if hasattr(self, "user"):
            ratelimit.frame_limits.release(self.room_id, str(self.user.pk))
            await media.socket_closed(self.room_id, str(self.user.pk), self.channel_name)
            for hook in CLOSE_HOOKS:
                try:
                    await hook(self.room_id, self.user.pk)
                except Exception:
                    logger.exception("a close hook failed for %s in %s", self.user, self.room_id)
        try:
            await self._let_go()
        except Exception:
            logger.exception("could not count out a socket of %s in %s", self.user, self.room_id)

    async def _let_go(self, at: datetime | None = None) -> None:
        """Count this socket out of the room (once); `at` is when it went silent."""
        if not self.counted:
            return
        self.counted = False
        timers.socket_closed()
        leaving = await database_sync_to_async(presence.do_disconnect)(self.room_id, self.user, at, self.channel_name)
        if leaving.check_at is not None:
            timers.recess_check(self.room_id, leaving.check_at)
        if leaving.waiting_changed:
            waiting_notices.changed(self.room_id)

    async def _watch_heartbeat(self) -> None:
        """Treat a recess socket that stays silent as gone: a dropped network sends no close frame."""
        loop = asyncio.get_running_loop()
        limit = recess.heartbeat_seconds()
        while True:
            silent = loop.time() - self.last_frame
            if silent >= limit:
                break
            await asyncio.sleep(limit - silent)
        if self.closing or not self.counted:
            return
        self.closing = True
        await self._let_go(at=timezone.now() - timedelta(seconds=loop.time() - self.last_frame))
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.clear()
        await self.close(code=int(CloseCode.SILENT))

    async def _frame(self, message: dict[str, Any]) -> None:
        """A frame from the browser: size and rate first, with no parsing, I/O or database turn."""
        if self.closing or not self.counted or self.frames is None:
            return
        if self.watchdog is not None:
            self.last_frame = asyncio.get_running_loop().time()
        text = message.get("text")
        if (
            text is None
            or len(text) > p.MAX_FRAME_BYTES
            or (len(text) * 4 > p.MAX_FRAME_BYTES and len(text.encode()) > p.MAX_FRAME_BYTES)
        ):
            await self._close(CloseCode.PROTOCOL)
            return
        if not self.frames.take(ratelimit.frame_cost(len(text))):
            FRAMES_DROPPED.inc()
            if not self.drops.take():
                logger.warning("closing a socket of %s in %s: too many frames", self.user, self.room_id)
                await self._close(CloseCode.RATE)
            return
        try:
            await self.receive(text_data=text)
        except Exception:
            # Logged and answered; the socket lives unless it keeps failing.
            SOCKET_FAILURES.inc()
            logger.exception("a frame of %s in %s failed", self.user, self.room_id)
            if not self.failures.take():
                await self._close(CloseCode.PROTOCOL)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            return
        try:
            raw = json.loads(text_data)
        except (ValueError, RecursionError):
            await self._invalid(None, "a frame is one JSON object")
            return
        ref = p.read_ref(raw)
        if p.is_media_message(raw):
            await self._media(ref, raw)
            return
        try:
            message = p.parse_client_message(raw)
        except p.InvalidMessage as invalid:
            await self._invalid(invalid.ref, invalid.message)
            return
        if message.type == "ping":
            # Anyone may ping (`MESSAGE_PERMISSIONS`); recess pages do every few seconds, so no database trip.
            if ref is not None:
                await self._send(p.Ok(ref=ref))
            return
        live = LIVE_HANDLERS.get(message.type)
        if live is not None and self.room is not None and await self._live(live, self.room, ref, message):
            return
        handler = HANDLERS.get(message.type)
        if handler is None:
            await self._invalid(ref, f"{message.type} is not available on this server")
            return
        # Per user, not per socket: more tabs or another server process give no more messages.
        # A moderator lowering hands (theirs to manage) is not counted. Counted here, on the loop:
        # a message over its limit never takes the database thread.
        counted = not (self.moderator and message.type == "hand.lower")
        try:
            allowed = not counted or await ratelimit.user_allows(self.room_id, self.user.pk, message.type)
        except RedisError:
            # Redis is down: no fault of this socket's, which stays open (docs/reliability.md)
            logger.warning(
                "could not count %s from %s in %s: Redis is unavailable", message.type, self.user, self.room_id
            )
            await self._error(ref, "unavailable", "The server could not do this just now; try again.")
            return
        if not allowed:
            await self._error(ref, "rate_limited", "Too many messages; slow down.")
            return
        try:
            outcome = await database_sync_to_async(self._run)(handler, message)
        except Exception as exc:
            SOCKET_FAILURES.inc()
            logger.exception("%s from %s in %s failed", message.type, self.user, self.room_id)
            await self._error(ref, "unavailable", "The server could not do this just now; try again.")
            # the database being down is no fault of this socket's: it stays open (docs/reliability.md)
            if not isinstance(exc, OperationalError | InterfaceError) and not self.failures.take():
                await self._close(CloseCode.PROTOCOL)
            return
        if isinstance(outcome, Refused):
            await self._error(ref, outcome.code, outcome.message)
        elif ref is not None:
            await self._send((outcome or p.Ok()).model_copy(update={"ref": ref}))

    def _run(self, handler: Any, message: p.ClientMessage) -> p.Ok | Refused | None:
        actor = load_actor(self.room_id, self.user, self.moderator)
        try:
            # the action's events leave together when it ends: one message per group, in order
            with events.together():
                result: p.Ok | None = handler(actor, message)
        except Refused as refused:
            return refused
        return result

    async def _live(self, live: Any, room: Room, ref: str | int | None, message: p.ClientMessage) -> bool:
        """Let a live handler answer on the loop (no database turn); False: it leaves the message to HANDLERS."""
        actor = Actor(user=self.user, room=room, moderator=self.moderator, presenter=False, admitted=self.admitted)
        try:
            outcome: p.Ok | None = await live(actor, message)
        except Refused as refused:
            await self._error(ref, refused.code, refused.message)
            return True
        except Exception:
            SOCKET_FAILURES.inc()
            logger.exception("%s from %s in %s failed", message.type, self.user, self.room_id)
            await self._error(ref, "unavailable", "The server could not do this just now; try again.")
            return True
        if outcome is None:
            return False
        if ref is not None:
            await self._send(outcome.model_copy(update={"ref": ref}))
        return True

    async def _media(self, ref: str | int | None, raw: dict[str, Any]) -> None:
        if self.room is None:
            await self._error(ref, "forbidden", "You may not do this in this room.")
            return
        # Only admission matters for media (the forwarder decides the rest): no database trip.
        actor = Actor(user=self.user, room=self.room, moderator=self.moderator, presenter=False, admitted=self.admitted)
        try:
            check_may_send(actor, raw["type"])
        except Refused as refused:
            await self._error(ref, refused.code, refused.message)
            return
        if self.listening and raw["type"] in ("media.join", "media.quality"):
            raw = {**raw, "quality": "audio"}  # a silent listener receives sound only
        try:
            answer = await media.handle_media_message(self.room_id, str(self.user.pk), raw, self.channel_name)
        except Exception:
            SOCKET_FAILURES.inc()
            logger.exception("%s from %s in %s failed", raw.get("type"), self.user, self.room_id)
            answer = ("invalid", "This media message could not be used.")
            if not self.failures.take():
                await self._close(CloseCode.PROTOCOL)
                return
        if answer is not None:
            await self._error(ref, *answer)
            return
        if ref is not None:
            await self._send(p.Ok(ref=ref))

    # --- channel-layer handlers ---------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, which takes a turn
        # on the one database thread; relaying an event touches no database, so it skips that
        # and fan-out does not queue behind votes and joins (see docs/protocol.md, Performance).
        if message["type"] == events.EVENT:
            await self.room_event(message)
            return
        if message["type"] == events.TEXT:
            if not self.closing:
                await self._text(message["text"])
            return
        if message["type"] == events.EVENTS:
            for event in message["events"]:
                await self.room_event({"type": events.EVENT, "event": event})
            return
        if message["type"] == "websocket.receive":
            # The same for frames: most touch no database, and a flood must not queue on that thread.
            await self._frame(message)
            return
        if message["type"] == events.CONTROL and message["action"] == OVERVIEW:
            # a group of this lesson changed: coalesced per process
            if self.moderator and not self.closing:
                overviews.changed(self.room_id)
            return
        if message["type"] == events.CONTROL and message["action"] == polls.VOTED:
            if self.moderator and not self.closing:
                live_results.voted(message["poll"], self._live_results, message.get("votes"))
            return
        await super().dispatch(message)

    async def room_event(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        event = message["event"]
        if event.get("type") == "groups.updated":
            deadlines.notice(self.room_id, (event["groups"] or {}).get("ends_at"))
        if event.get("type") == "room.updated":
            timers.notice(self.room_id, event["room"].get("closes_at"))
        elif event.get("type") == "poll.results" and event["poll"]["status"] != "open":
            self.settled_polls.add(event["poll"]["id"])
        elif event.get("type") == "participant.updated" and event["participant"]["id"] == str(self.user.pk):
            for hook in OWN_UPDATE_HOOKS:
                try:
                    await hook(self.room_id, self.user.pk, event["participant"])
                except Exception:  # the database gone: the event still reaches the page
                    logger.exception("a participant hook failed for %s in %s", self.user, self.room_id)
        await self._raw(event)

    async def _live_results(self, event: dict[str, Any]) -> None:
        if self.closing or not self.moderator or event["poll"]["id"] in self.settled_polls:
            return
        await self._raw(event)

    async def room_control(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        action = message["action"]
        if action == "admitted" and not self.admitted:
            await self._send(p.Admitted())
            await self._enter(moderator=False)
        elif action == "refused":
            if message.get("event") == "denied":
                await self._send(p.Denied())
            self.counted = False  # the action already let go of this socket's count
            timers.socket_closed()
            await self._close(message["code"])
        elif action == "ended":
            await self._send(p.RoomEnded(reason=message["reason"]))
            await self._close(CloseCode.ENDED)
        elif action == "leave":
            await self._close(CloseCode.NORMAL)
        elif action == "superseded":
            self.counted = False  # do_connect of the newer socket counted this one out
            timers.socket_closed()
            await self._close(CloseCode.SUPERSEDED)
        elif action == "logged_out":
            await self._close(CloseCode.UNAUTHENTICATED)
        elif action == "waiting" and self.admitted:
            await self._leave_room(message["reason"])

    async def _leave_room(self, reason: str) -> None:
        """Back to the waiting room (a recess slot is over): only the user's own groups stay."""
        kept = {events.everyone_group(self.room_id), events.user_group(self.room_id, self.user.pk)}
        for group in [group for group in self.joined if group not in kept]:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.remove(group)
        self.admitted = False
        self.moderator = False
        self.room = None
        await self._send(p.Waiting(reason=reason))  # type: ignore[arg-type]

    # --- helpers ---------------------------------------------------------------------------

    async def _enter(self, moderator: bool) -> None:
        self.moderator = moderator
        self.admitted = True
        groups = [events.room_group(self.room_id)]
        if moderator:
            groups.append(events.moderators_group(self.room_id))
        await self._join(*groups)
        self.room, state = await database_sync_to_async(self._room_and_state)(moderator)
        timers.notice(self.room_id, state["room"]["closes_at"])
        await self._raw(state)
        await self._enter_groups(state)

    def _room_and_state(self, moderator: bool) -> tuple[Room, dict[str, Any]]:
        """The room and this socket's `state`, in one database turn (a turn waits behind others')."""
        room = Room.objects.select_related("school_class").get(pk=self.room_id)
        return room, presence.state_in(room, self.user, moderator)

    async def _enter_groups(self, state: dict[str, Any]) -> None:
        """Breakout groups: follow their timer; a student with a group goes there, moderators watch them."""
        running = state.get("groups") or state.get("group")
        if running is not None:
            lesson_id = running.get("lesson", self.room_id)
            deadlines.notice(lesson_id, running["ends_at"])
        mine = (state.get("groups") or {}).get("mine")
        if mine is not None:
            group = next(group for group in state["groups"]["groups"] if group["id"] == mine)
            await self._send(p.GroupAssigned(group=p.GroupObject(**group)))
        if self.moderator and state["room"]["kind"] == "lesson":
            overviews.watch(self.room_id, self._overview, running=running is not None)

    async def _overview(self, event: dict[str, Any]) -> None:
        if not self.closing:
            await self._raw(event)

    async def _join(self, *groups: str) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)

    async def _invalid(self, ref: str | int | None, message: str) -> None:
        if not self.invalid.take():
            await self._close(CloseCode.PROTOCOL)
            return
        await self._error(ref, "invalid", message)

    async def _error(self, ref: str | int | None, code: str, message: str) -> None:
        ERROR_REPLIES.labels(code=code).inc()
        await self._send(p.Error(ref=ref, code=code, message=message))  # type: ignore[arg-type]

    async def _send(self, event: p.Event) -> None:
        await self._raw(p.dump(event))

    async def _raw(self, data: dict[str, Any]) -> None:
        await self._text(json.dumps(data, ensure_ascii=False))

    async def _text(self, text: str) -> None:
        try:
            await self.send(text_data=text)
        except Disconnected:
            # The client closed after this event arrived and before its send (daphne's protocol,
            # autobahn's, refuses it): no failure of the socket's, and its websocket.disconnect
            # follows. Raised, it ended the socket with a traceback and a count in cv_socket_failures
            # for every page closed in the middle of a busy room.
            self.closing = True

    async def _close(self, code: int) -> None:
        """Close with a code, and count the socket out now: its client may never answer the close."""
        self.closing = True
        try:
            # A plain int: autobahn, under daphne, refuses a close code whose type is not exactly int.
            await self.close(code=int(code))
        finally:
            await self._cleanup()


async def close_every_socket(code: int) -> int:
    """Close every room socket of this process with `code` (each counted out); return how many."""
    open_now = [socket for socket in list(sockets) if not socket.closing]
    results = await asyncio.gather(*(socket._close(code) for socket in open_now), return_exceptions=True)
    for socket, result in zip(open_now, results, strict=True):
        if isinstance(result, BaseException):
            logger.error("could not close a room socket of %s with %d", getattr(socket, "user", None), code,
                         exc_info=result)  # fmt: skip
    return sum(1 for result in results if not isinstance(result, BaseException))


class NoRoomConsumer(AsyncWebsocketConsumer):
    """A socket path that names no room: accept, then close with 4404 so that the page can read it."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=int(CloseCode.NOT_FOUND))
