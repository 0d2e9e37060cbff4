"""The media-node bus over Redis: nodes register and take commands, the app places rooms and reads events.

Keys (all under `cv:media:`):

- `node:<id>` JSON `NodeInfo`, refreshed every second with a 3 s TTL by a thread of the node
  process (the pulse), which also says when the node's event loop last ran (`loop_at`): the node is
  alive while the key exists and its loop ran within `NODE_STALL_S`; `nodes` is the set of node
  ids to look at. A node busy with a storm of handshakes is slow, not gone: the pulse keeps it
  alive while its loop catches up, and new rooms go to nodes whose loop is on time.
- `node:<id>:inbox` a list of `Command`s the node pops in order (one list, so a peer's offer
  and candidates keep their order).
- `rooms` a hash room -> node id: where each room's media lives, set with HSETNX.
- `peers:<room>` a hash peer -> JSON permissions: who is in the room's media, kept by the app
  side, so a room can be replayed on a new node and its peers told when its node dies.
- `reply:<request>` a list the node pushes one reply to, for the requests that want one.
- `events` a stream of `Event`s from every node (messages for browsers, live sources), read by
  one dispatcher at a time (lock `dispatcher`) so that each event is delivered once and in order.

Redis may restart and lose all of this: nodes register again with their next heartbeat, a node
drops the rooms it held under the previous server (their placements are gone), and the dispatcher
creates its consumer group again. The application puts the peers' permissions back from its
database as pages reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from redis import Redis as BlockingRedis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, RedisError, ResponseError

from .node import MediaNode
from .protocol import MediaError, Reconnect

logger = logging.getLogger(__name__)

PREFIX = "cv:media"
NODES = f"{PREFIX}:nodes"
ROOMS = f"{PREFIX}:rooms"
EVENTS = f"{PREFIX}:events"
DISPATCHER_LOCK = f"{PREFIX}:dispatcher"
GROUP = "app"
CONSUMER = "dispatcher"  # one name for whoever holds the lock, so a successor re-reads what was not acked

HEARTBEAT_S = 1.0
NODE_TTL_MS = 3000
NODE_STALL_S = 20.0
"""A node whose event loop has not run for this long, though its process beats, is declared lost."""
REPLY_TIMEOUT_S = 5.0
# redis-py 8 cuts every read after 5 s unless told otherwise, which would also cut a blocking read
# of REPLY_TIMEOUT_S: the bus's connections wait a little longer than its longest blocking read.
SOCKET_TIMEOUT_S = REPLY_TIMEOUT_S + 5.0
REPLY_TTL_S = 30
EVENTS_MAXLEN = 10000
EVENT_MAX_AGE_MS = 30000
SERVER_CHECK_S = 0.2
"""A node asks which Redis server it talks to at most this often, and before a command if it has not since."""
"""An event older than this when read (no dispatcher ran meanwhile) is dropped: it would only confuse."""

# Delete a field only if it still holds the expected value (a room placed again is not touched).
_HDEL_IF = (
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"
)


def node_key(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}"


def inbox_key(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}:inbox"


def peers_key(room_id: str) -> str:
    return f"{PREFIX}:peers:{room_id}"


def reply_key(request_id: str) -> str:
    return f"{PREFIX}:reply:{request_id}"


def connect(url: str, *, timeout: float = SOCKET_TIMEOUT_S) -> Redis:
    """A Redis client for the bus: its socket timeout outlasts the bus's blocking reads.

    A command that meets a connection closed by a Redis restart reconnects and runs again (three
    tries within half a second), the policy of the web side's clients (config/redis_clients.py);
    without it every pooled connection fails once after a restart.
    """
    retry = Retry(ExponentialBackoff(base=0.05, cap=0.5), 3)
    return Redis.from_url(url, socket_timeout=timeout, retry=retry, retry_on_error=[RedisConnectionError])


class NodeInfo(TypedDict):
    """What a node says about itself in its heartbeat."""

    id: str
    address: str
    pid: int
    started: float
    load: dict[str, float]
    loop_at: float  # time.time() when the node's event loop last wrote this


def stalled(info: NodeInfo, now: float, limit: float) -> bool:
    """Whether a node's event loop last ran more than `limit` seconds before `now`."""
    return now - info.get("loop_at", now) > limit


class _Command(BaseModel):
    """One call of the application on a node, as it crosses the bus (JSON in the node's inbox)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    room: str


class Handle(_Command):
    """A browser's media.* message; the node answers on `reply_to`."""

    op: Literal["handle"] = "handle"
    peer: str
    message: dict[str, Any]
    reply_to: str


class Permissions(BaseModel):
    """What a peer may publish."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audio: bool
    video: bool
    screen: bool
    always_forward: bool = False


REFUSED = Permissions(audio=False, video=False, screen=False)


class SetPermissions(_Command):
    op: Literal["set_permissions"] = "set_permissions"
    peer: str
    permissions: Permissions


class Leave(_Command):
    op: Literal["leave"] = "leave"
    peer: str


class CloseRoom(_Command):
    op: Literal["close_room"] = "close_room"


class Relay(_Command):
    """A peer's microphone heard in other rooms of the node too, or no longer (MediaNode.relay)."""

    op: Literal["relay"] = "relay"
    peer: str
    to_rooms: list[str] = Field(max_length=20)
    on: bool


Command = Annotated[Handle | SetPermissions | Leave | CloseRoom | Relay, Field(discriminator="op")]
COMMAND: TypeAdapter[Command] = TypeAdapter(Command)


@dataclass(frozen=True)
class Event:
    """Something a node tells the application: a message for a browser, a peer's live sources, or who
    speaks in a room (`speaking`: peer empty, body `{"ids": [...]}`)."""

    kind: Literal["send", "sources", "speaking"]
    room: str
    peer: str
    body: dict[str, Any]


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class BusNode:
    """A MediaNode driven over Redis: registers, takes commands, publishes its events."""

    def __init__(
        self,
        redis: Redis,
        *,
        node_id: str | None = None,
        address: str | None = None,
        pulse_url: str | None = None,
        **options: Any,
    ) -> None:
        """`pulse_url`: the Redis the pulse thread beats on (the node's own), or None to beat from the loop."""
        self.redis = redis
        self._pulse_url = pulse_url
        self._snapshot = ""
        self.id = node_id or default_node_id()
        self.address = address or socket.gethostname()
        self.node = MediaNode(self._send, on_sources=self._on_sources, on_speaking=self._on_speaking, **options)
        self.started = time.time()
        self._queues: dict[str, asyncio.Queue[Command]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_packets = (time.monotonic(), 0)
        self._server: str | None = None
        self._server_checked = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until stop is set, then tell every browser to reconnect and unregister."""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: the group exists already
            await self.redis.xgroup_create(EVENTS, GROUP, id="$", mkstream=True)
        await self._forget_previous_run()
        self._server = await server_id(self.redis)
        self._server_checked = time.monotonic()
        await self._beat()
        await self.redis.sadd(NODES, self.id)
        logger.info("media node %s serving (%s)", self.id, self.address)
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        commands = asyncio.create_task(self._commands(stop))
        pulse_stop = threading.Event()
        pulse = None
        if self._pulse_url is not None:
            pulse = threading.Thread(target=self._pulse, args=(self._pulse_url, pulse_stop), name="pulse", daemon=True)
            pulse.start()
        try:
            await stop.wait()
        finally:
            commands.cancel()
            heartbeat.cancel()
            for task in (commands, heartbeat):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # the pulse stops before close() deletes the key, which it would otherwise write again
            pulse_stop.set()
            if pulse is not None:
                await asyncio.to_thread(pulse.join, 5)
            await self.close()

    def _pulse(self, url: str, stop: threading.Event) -> None:
        """The node's heartbeat from a thread: the process is alive, whatever its event loop is doing.

        It writes the loop's last snapshot (`loop_at` says when that was) every `HEARTBEAT_S`, so a
        loop held up for a few seconds by a storm of DTLS handshakes does not get the node declared
        lost, and its rooms moved, while it works; a process that died stops beating at once.
        """
        client = BlockingRedis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            while not stop.wait(HEARTBEAT_S):
                try:
                    client.set(node_key(self.id), self._snapshot, px=NODE_TTL_MS)
                except RedisError as exc:  # Redis restarting: the next beat tries again
                    logger.warning("media node %s: pulse failed: %s", self.id, exc)
        finally:
            client.close()

    async def _forget_previous_run(self) -> None:
        """Give up the rooms a previous process with this node id had, and tell their browsers.

        A node restarted with the same id before its heartbeat expired was never noticed dead:
        its rooms would stay placed here, on a process that does not have them. Whatever is in
        its inbox was meant for that process too.
        """
        await self.redis.delete(inbox_key(self.id))
        placed = await self.redis.hgetall(ROOMS)
        for room, node in placed.items():
            room_id = _text(room)
            if _text(node) != self.id or not await self.redis.eval(_HDEL_IF, 1, ROOMS, room_id, self.id):
                continue
            peers = sorted(_text(peer) for peer in await self.redis.hkeys(peers_key(room_id)))
            logger.warning("media node %s restarted: room %s placed again on next join", self.id, room_id)
            for peer in peers:
                await self._send(room_id, peer, Reconnect(reason="node_lost").model_dump())

    async def _check_server(self) -> None:
        """Drop every room if Redis restarted since the last look: their placements went with it.

        The pages reconnect (the application closes their sockets) and join again, maybe on
        another node; what this node held of the rooms answers nobody now.
        """
        now = time.monotonic()
        if now - self._server_checked < SERVER_CHECK_S:
            return
        current = await server_id(self.redis)
        self._server_checked = now
        if current == self._server:
            return
        self._server = current
        rooms = self.node.room_ids()
        logger.warning("media node %s: Redis restarted; dropping %d rooms placed before", self.id, len(rooms))
        for room in rooms:
            await self.node.close_room(room)
        await self.redis.sadd(NODES, self.id)

    async def close(self) -> None:
        """Unregister first (new joins go elsewhere), then send media.reconnect to every browser."""
        placed = await self.redis.hgetall(ROOMS)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(node_key(self.id), inbox_key(self.id))
            pipe.srem(NODES, self.id)
            for room, node in placed.items():
                if _text(node) == self.id:
                    pipe.eval(_HDEL_IF, 1, ROOMS, _text(room), self.id)
            await pipe.execute()
        await self.node.close()
        for task in list(self._tasks):
            task.cancel()
        logger.info("media node %s stopped", self.id)

    def info(self) -> NodeInfo:
        stats = self.node.stats()
        now = time.monotonic()
        then, packets = self._last_packets
        forwarded = stats["forwarded_packets"]
        self._last_packets = (now, forwarded)
        rate = (forwarded - packets) / (now - then) if now > then else 0.0
        load: dict[str, float] = {name: float(value) for name, value in stats.items()}
        load["packets_per_s"] = round(max(rate, 0.0), 1)
        return NodeInfo(
            id=self.id, address=self.address, pid=os.getpid(), started=self.started, load=load, loop_at=time.time()
        )

    async def _beat(self) -> None:
        self._snapshot = json.dumps(self.info())
        await self.redis.set(node_key(self.id), self._snapshot, px=NODE_TTL_MS)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._check_server()
                await self._beat()
                await self.redis.sadd(NODES, self.id)
            except Exception:
                logger.exception("media node %s: heartbeat failed", self.id)

    async def _commands(self, stop: asyncio.Event) -> None:
        inbox = inbox_key(self.id)
        while not stop.is_set():
            try:
                popped = await self.redis.blpop([inbox], timeout=1)
            except Exception:
                logger.exception("media node %s: reading commands failed", self.id)
                await asyncio.sleep(0.5)
                continue
            try:
                # before the command: it may be the first of a page joining again after a restart
                await self._check_server()
            except Exception:
                logger.exception("media node %s: could not ask Redis for its run id", self.id)
            if popped is None:
                continue
            try:
                command = COMMAND.validate_json(popped[1])
            except ValidationError:
                logger.exception("media node %s: dropped a command it cannot read: %.200r", self.id, popped[1])
                continue
            self._enqueue(command)

    def _enqueue(self, command: Command) -> None:
        # One worker per room: rooms do not wait for each other, a room's commands keep their order.
        room = command.room
        queue = self._queues.get(room)
        if queue is None:
            queue = self._queues[room] = asyncio.Queue()
            task = asyncio.get_running_loop().create_task(self._work(room, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.put_nowait(command)

    async def _work(self, room: str, queue: asyncio.Queue[Command]) -> None:
        try:
            while not queue.empty():
                command = queue.get_nowait()
                try:
                    await self._execute(command)
                except Exception:
                    logger.exception("media node %s: could not answer %s in room %s", self.id, command.op, room)
        finally:
            del self._queues[room]

    async def _execute(self, command: Command) -> None:
        reply: dict[str, Any] = {"ok": True}
        room = command.room
        try:
            if isinstance(command, Handle):
                await self.node.handle(room, command.peer, command.message)
            elif isinstance(command, SetPermissions):
                await self.node.set_permissions(room, command.peer, **command.permissions.model_dump())
            elif isinstance(command, Leave):
                await self.node.leave(room, command.peer)
            elif isinstance(command, Relay):
                await self.node.relay(room, command.peer, list(command.to_rooms), command.on)
            else:
                # its members' pages move to another room (a breakout group closing) and resume there
                await self.node.close_room(room, park=True)
        except MediaError as exc:
            reply = {"ok": False, "code": exc.code, "message": exc.message}
        except Exception:
            logger.exception("media node %s: %s failed in room %s", self.id, command.op, room)
            reply = {"ok": False, "code": "unavailable", "message": "The media server failed on this message."}
        reply_to = command.reply_to if isinstance(command, Handle) else ""
        if reply_to:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.rpush(reply_to, json.dumps(reply))
                pipe.expire(reply_to, REPLY_TTL_S)
                await pipe.execute()

    async def _publish(self, event: Event) -> None:
        fields: dict[Any, Any] = {
            "kind": event.kind,
            "room": event.room,
            "peer": event.peer,
            "body": json.dumps(event.body),
        }
        await self.redis.xadd(EVENTS, fields, maxlen=EVENTS_MAXLEN, approximate=True)

    async def _send(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        await self._publish(Event("send", room_id, peer_id, message))

    async def _on_sources(self, room_id: str, peer_id: str, live: dict[str, bool]) -> None:
        await self._publish(Event("sources", room_id, peer_id, live))

    async def _on_speaking(self, room_id: str, ids: list[str]) -> None:
        await self._publish(Event("speaking", room_id, "", {"ids": ids}))


KINDS: dict[str, Literal["send", "sources", "speaking"]] = {
    "send": "send",
    "sources": "sources",
    "speaking": "speaking",
}
"""The event kinds a client delivers (typed; anything else on the stream is skipped)."""

EventHandler = Callable[[Event], Awaitable[None]]
LostHandler = Callable[[str, list[str]], Awaitable[None]]


class BusClient:
    """The application's side: places rooms, sends commands, reads events, notices dead nodes."""

    def __init__(self, redis: Redis, *, timeout: float = REPLY_TIMEOUT_S) -> None:
        self.redis = redis
        self.timeout = timeout

    # Nodes and placement

    async def live_nodes(self) -> list[NodeInfo]:
        """Every node whose heartbeat has not expired, by id."""
        ids = sorted(_text(member) for member in await self.redis.smembers(NODES))
        if not ids:
            return []
        values = await self.redis.mget([node_key(node_id) for node_id in ids])
        return [json.loads(value) for value in values if value is not None]

    async def placement(self, room_id: str) -> str | None:
        """The node a room's media lives on, if placed."""
        node = await self.redis.hget(ROOMS, room_id)
        return _text(node) if node is not None else None

    async def place(self, room_id: str) -> str:
        """Return the room's live node, placing the room on the least-loaded live node if needed."""
        current = await self.placement(room_id)
        if current is not None:
            if not await self.redis.exists(node_key(current)):
                raise MediaError("unavailable", "The media server of this room stopped; reconnecting.")
            return current
        nodes = await self.live_nodes()
        if not nodes:
            raise MediaError("unavailable", "No media server is running.")
        # a node whose loop is behind (busy with handshakes) takes no new room while another is on time
        now = time.time()
        nodes = [n for n in nodes if not stalled(n, now, NODE_TTL_MS / 1000)] or nodes
        placed: dict[str, int] = {}
        for node in (await self.redis.hgetall(ROOMS)).values():
            placed[_text(node)] = placed.get(_text(node), 0) + 1
        # Heartbeat loads lag a second behind; the placement hash counts rooms placed just now.
        chosen = min(nodes, key=lambda n: (n["load"].get("peers", 0.0), placed.get(n["id"], 0), random.random()))
        if await self.redis.hsetnx(ROOMS, room_id, chosen["id"]):
            # The new node knows nothing of the room: tell it what each peer may publish first.
            peers = await self.redis.hgetall(peers_key(room_id))
            for peer, permissions in peers.items():
                await self._push(
                    chosen["id"],
                    SetPermissions(
                        room=room_id, peer=_text(peer), permissions=Permissions.model_validate_json(permissions)
                    ),
                )
            return chosen["id"]
        return await self.place(room_id)

    async def place_near(self, room_id: str, near: str) -> str | None:
        """Place a room on the live node of another (a breakout group by its lesson); None if none is live.

        A room already placed stays where it is. Rooms of one node can hear each other (`MediaNode.relay`),
        and a page moving between them keeps its connections (`media.join` with `resume`). `near` not
        placed yet (a lesson whose media nobody joined) is placed first, as its first join would.
        """
        node = await self.placement(near)
        if node is None:
            with contextlib.suppress(MediaError):  # no live node: each room is placed on its first join
                node = await self.place(near)
        if node is None or not await self.redis.exists(node_key(node)):
            return None
        if await self.redis.hsetnx(ROOMS, room_id, node):
            return node
        return await self.placement(room_id)

    # The four calls of MediaNode, over the bus

    async def handle(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        """Pass a browser's media.* message to the room's node; raise MediaError as the node would."""
        await self.redis.hsetnx(peers_key(room_id), peer_id, REFUSED.model_dump_json())
        node_id = await self.place(room_id)
        request = uuid.uuid4().hex
        await self._push(node_id, Handle(room=room_id, peer=peer_id, message=message, reply_to=reply_key(request)))
        popped = await self.redis.blpop([reply_key(request)], timeout=self.timeout)
        if popped is None:
            raise MediaError("unavailable", "The media server did not answer in time; try again.")
        reply = json.loads(popped[1])
        if not reply["ok"]:
            raise MediaError(reply["code"], reply["message"])

    async def set_permissions(
        self, room_id: str, peer_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool = False
    ) -> None:
        """Record what a peer may publish and tell the room's node, if the room is placed."""
        permissions = Permissions(audio=audio, video=video, screen=screen, always_forward=always_forward)
        # Recorded before looking up the placement: a concurrent placement replays it, or we send it.
        await self.redis.hset(peers_key(room_id), peer_id, permissions.model_dump_json())
        node_id = await self.placement(room_id)
        if node_id is not None:
            await self._push(node_id, SetPermissions(room=room_id, peer=peer_id, permissions=permissions))

    async def leave(self, room_id: str, peer_id: str) -> None:
        """Stop all media of a peer."""
        await self.redis.hdel(peers_key(room_id), peer_id)
        node_id = await self.placement(room_id)
        if node_id is not None:
            await self._push(node_id, Leave(room=room_id, peer=peer_id))

    async def close_room(self, room_id: str) -> None:
        """Stop all media of a room and forget where it was."""
        await self.redis.delete(peers_key(room_id))
        node_id = await self.placement(room_id)
        if node_id is not None:
            await self.redis.eval(_HDEL_IF, 1, ROOMS, room_id, node_id)
            await self._push(node_id, CloseRoom(room=room_id))

    async def relay(self, room_id: str, peer_id: str, to_rooms: list[str], on: bool) -> None:
        """Let a peer's microphone be heard in other rooms placed on its room's node, or no longer.

        On, a room not placed yet (nobody of a group joined its media) is placed there first, so that
        whoever joins it next hears the peer; rooms placed on another node are left out.
        """
        node_id = await self.placement(room_id)
        if node_id is None:
            return
        if on:
            to_rooms = [room for room in to_rooms if await self.place_near(room, room_id) == node_id]
        await self._push(node_id, Relay(room=room_id, peer=peer_id, to_rooms=to_rooms, on=on))

    async def _push(self, node_id: str, command: Command) -> None:
        await self.redis.rpush(inbox_key(node_id), command.model_dump_json())

    # Dead nodes and events

    async def reap(self) -> list[tuple[str, list[str]]]:
        """Forget nodes whose heartbeat expired; return their rooms, each with its peers."""
        registered = {_text(member) for member in await self.redis.smembers(NODES)}
        placed = {_text(room): _text(node) for room, node in (await self.redis.hgetall(ROOMS)).items()}
        candidates = sorted(registered | set(placed.values()))
        if not candidates:
            return []
        beats = await self.redis.mget([node_key(node_id) for node_id in candidates])
        now = time.time()
        dead = set()
        for node_id, beat in zip(candidates, beats, strict=True):
            if beat is None:
                dead.add(node_id)
            elif stalled(json.loads(beat), now, NODE_STALL_S):
                logger.warning("media node %s: its event loop has not run for %.0f s", node_id, NODE_STALL_S)
                dead.add(node_id)
                await self.redis.delete(node_key(node_id))
        lost: list[tuple[str, list[str]]] = []
        for node_id in dead & registered:
            logger.warning("media node %s stopped answering", node_id)
            await self.redis.srem(NODES, node_id)
            await self.redis.delete(inbox_key(node_id))
        for room, node_id in placed.items():
            if node_id in dead and await self.redis.eval(_HDEL_IF, 1, ROOMS, room, node_id):
                peers = await self.redis.hkeys(peers_key(room))
                lost.append((room, sorted(_text(peer) for peer in peers)))
        return lost

    async def dispatch(self, on_event: EventHandler, on_lost: LostHandler, *, reap_every: float = 0.5) -> None:
        """While holding the dispatcher lock, deliver every node event once and in order, and reap dead nodes."""
        with contextlib.suppress(ResponseError):
            await self.redis.xgroup_create(EVENTS, GROUP, id="$", mkstream=True)
        restarted = False
        lock = self.redis.lock(DISPATCHER_LOCK, timeout=NODE_TTL_MS / 1000, thread_local=False)
        try:
            while True:
                if not await lock.acquire(blocking=False):
                    await asyncio.sleep(HEARTBEAT_S)
                    continue
                try:
                    if restarted:
                        restarted = False
                        await self._create_group_again()
                    await self._lead(lock.reacquire, on_event, on_lost, reap_every)
                except Exception as exc:
                    # redis-py may turn a cancellation in flight into a connection error
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise asyncio.CancelledError from exc
                    if isinstance(exc, LockError):
                        logger.warning("media dispatcher lost its lock")
                    elif isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP"):
                        # Redis restarted empty: the stream and its group are gone
                        logger.warning("media dispatcher: the events' consumer group is gone; creating it again")
                        restarted = True
                    else:
                        logger.exception("media dispatcher failed")
                        await asyncio.sleep(HEARTBEAT_S)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(lock.release())

    async def _create_group_again(self) -> None:
        """From the stream's start: what nodes sent since the restart, before the group existed, is for pages now."""
        with contextlib.suppress(ResponseError):
            await self.redis.xgroup_create(EVENTS, GROUP, id="0", mkstream=True)

    async def _lead(
        self, renew: Callable[[], Awaitable[bool]], on_event: EventHandler, on_lost: LostHandler, reap_every: float
    ) -> None:
        loop = asyncio.get_running_loop()
        renewed = reaped = loop.time()
        start = "0"  # first what a previous dispatcher read and did not acknowledge
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # a callee swallowed the cancellation
            now = loop.time()
            if now - renewed >= HEARTBEAT_S:
                await renew()
                renewed = now
            if now - reaped >= reap_every:
                reaped = now
                for room, peers in await self.reap():
                    await on_lost(room, peers)
            block = None if start == "0" else int(reap_every * 1000)
            answer: Any = await self.redis.xreadgroup(GROUP, CONSUMER, {EVENTS: start}, count=100, block=block)
            entries = answer[0][1] if answer else []
            if start == "0" and not entries:
                start = ">"
            for entry_id, fields in entries:
                await self._deliver(_text(entry_id), fields, on_event)
                await self.redis.xack(EVENTS, GROUP, entry_id)

    async def _deliver(self, entry_id: str, fields: dict[Any, Any], on_event: EventHandler) -> None:
        if time.time() * 1000 - int(entry_id.split("-")[0]) > EVENT_MAX_AGE_MS:
            return
        values = {_text(key): _text(value) for key, value in fields.items()}
        kind = values["kind"]
        if kind not in KINDS:
            return
        event = Event(KINDS[kind], values["room"], values["peer"], json.loads(values["body"]))
        try:
            await on_event(event)
        except Exception:
            logger.exception("media event %s could not be delivered", entry_id)


async def server_id(redis: Redis) -> str:
    """The Redis server's run id: it changes whenever the server restarts."""
    info: dict[str, Any] = await redis.info("server")
    return str(info.get("run_id", ""))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
