"""Room fixtures: a live lesson of 6A and sockets opened through the real ASGI application.

In the embedded shape a socket is a `WebsocketCommunicator` on this process's application. In
the production shape (CV_TEST_SHAPE=production) it is a real WebSocket to one of two daphne
processes on PostgreSQL and Redis, alternating socket by socket, behind the same `Socket` API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import ClientConnection

from accounts.models import User
from classroom import consumers
from classroom.actions.lessons import do_start_lesson
from classroom.models import Room, SchoolClass
from config.asgi import application
from tests.conftest import PRODUCTION, login
from tests.services import AsgiServer

ORIGIN = b"http://localhost"
TIMEOUT = 3.0
DAPHNE_HEARS_CLOSE_S = 0.05
SERVERS_SETTLE_TIMEOUT = 10.0


def session_cookie(user: User) -> str:
    """Log in through Django's session machinery and return the real `sessionid` cookie."""
    return login(user).cookies["sessionid"].value


class Socket:
    """A room socket as a browser holds it: send messages, read events, see the close code."""

    _refs = itertools.count(1)

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.seen: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            raise ConnectionClosed(output.get("code"))
        event: dict[str, Any] = json.loads(output["text"])
        self.seen.append(event)
        return event

    async def expect(self, kind: str, /, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """Read events until one of this type (and these field values) arrives."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} {match or ''}; got {[e['type'] for e in self.seen]}")
            try:
                event = await self.receive(left)
            except TimeoutError:
                continue
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    async def request(self, kind: str, /, **fields: Any) -> dict[str, Any]:
        """Send a message with a fresh ref and return its `ok` or `error` reply."""
        ref = next(self._refs)
        await self.send({"type": kind, "ref": ref, **fields})
        while True:
            event = await self.receive()
            if event["type"] in ("ok", "error") and event.get("ref") == ref:
                return event

    async def closed(self, timeout: float = TIMEOUT) -> int | None:
        """Read until the server closes the socket and return the close code."""
        while True:
            try:
                await self.receive(timeout)
            except ConnectionClosed as closed:
                return closed.code

    async def quiet(self, kind: str, /, wait: float = 0.3) -> None:
        """Assert that no event of this type arrives within `wait` seconds."""
        try:
            event = await self.expect(kind, timeout=wait)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {kind}: {event}")

    async def leave(self) -> None:
        await self.communicator.disconnect()
        # Let the consumer's disconnect (a database write) finish before the test goes on.
        await sockets_counted_out(daphne=isinstance(self.communicator, DaphneCommunicator))


def _busy_backends() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state <> 'idle'"
        )
        row = cursor.fetchone()
    return int(row[0])


async def sockets_counted_out(*, daphne: bool) -> None:
    """Wait until the sockets closed here have been counted out (their database writes done).

    In this process a closed consumer has run its cleanup by the time its communicator's
    `disconnect` returns, unless the communicator's timeout cancelled it: then its cleanup runs on
    in its own task (`consumers._cleanups`), awaited here. A daphne process hears the close a moment
    after the client sent it, and nothing on this side can see that moment: a short pause, then the
    database itself says when its writes are done.
    """
    while consumers._cleanups:
        await asyncio.wait(set(consumers._cleanups))
    if daphne:
        await asyncio.sleep(DAPHNE_HEARS_CLOSE_S)
        await servers_settled()


def _sockets_still_counted() -> int:
    from classroom.models import Participant

    return Participant.objects.filter(connections__gt=0).count()


async def every_socket_counted_out() -> None:
    """Wait until the servers have counted out every socket of the test (no participant holds one).

    The clients have all closed. A daphne process on a busy machine may start counting a socket
    out (a transaction on the participant) after `servers_settled` saw two quiet samples; the
    flush between tests (TRUNCATE) then deadlocked with it and the next test ran on the rows left.
    The participants' counts say when the servers have heard every close. Bounded: a test whose
    server can no longer count out (it was stopped) goes on after the timeout.
    """
    deadline = asyncio.get_running_loop().time() + SERVERS_SETTLE_TIMEOUT
    while await sync_to_async(_sockets_still_counted)() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


async def servers_settled() -> None:
    """Wait until no other connection to the test database is working (twice in a row).

    A socket closed on a daphne process leaves (a database write) a moment later; the next
    assertion, or the flush between tests (TRUNCATE, which would deadlock with it), waits for that.
    """
    deadline = asyncio.get_running_loop().time() + SERVERS_SETTLE_TIMEOUT
    quiet = 0
    while quiet < 2:
        quiet = quiet + 1 if await sync_to_async(_busy_backends)() == 0 else 0
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the servers were still writing to the database after {SERVERS_SETTLE_TIMEOUT} s")
        await asyncio.sleep(0.02)


class DaphneCommunicator:
    """A real WebSocket to a daphne process, read like a `WebsocketCommunicator`.

    `future` is done once the connection is closed; `receive_output` gives
    `websocket.send` events, then one `websocket.close` with the server's code.
    """

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.outputs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.future = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, server: AsgiServer, path: str, headers: list[tuple[bytes, bytes]]) -> DaphneCommunicator:
        """Open the socket; raise `websockets.InvalidStatus` when the handshake is refused."""
        named = {name.decode(): value.decode() for name, value in headers}
        origin = named.pop("origin", None)
        named.pop("host", None)  # the server's own address, as a proxy would pass it
        connection = await websockets.connect(
            f"ws://127.0.0.1:{server.port}{path}",
            origin=origin,  # type: ignore[arg-type]
            additional_headers=named,
            proxy=None,
            open_timeout=TIMEOUT,
        )
        return cls(connection)

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                self.outputs.put_nowait({"type": "websocket.send", "text": message})
        except websockets.ConnectionClosed:
            pass
        received = self.connection.protocol.close_rcvd
        self.outputs.put_nowait({"type": "websocket.close", "code": received.code if received else None})

    async def send_to(self, text_data: str) -> None:
        await self.connection.send(text_data)

    async def receive_output(self, timeout: float = 1) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            return await self.outputs.get()

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        if not self.outputs.empty():
            return False
        await asyncio.sleep(timeout)
        return self.outputs.empty()

    async def disconnect(self, code: int = 1000) -> None:
        await self.connection.close(code)
        with contextlib.suppress(asyncio.CancelledError):
            await self.future


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


Opener = Callable[..., Any]


@pytest.fixture
def lesson(teacher: User) -> Room:
    return do_start_lesson(SchoolClass.objects.get(name="6A"), teacher)


def _servers(request: pytest.FixtureRequest) -> list[AsgiServer]:
    """The daphne processes of the production shape, or none in the embedded one."""
    if not PRODUCTION:
        return []
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if not transactional:
        pytest.fail(
            "a socket test in the production shape needs django_db(transaction=True): "
            "the daphne processes cannot see rows of an uncommitted test transaction",
            pytrace=False,
        )
    servers: list[AsgiServer] = request.getfixturevalue("asgi_servers")
    return servers


@pytest.fixture
async def open_socket(request: pytest.FixtureRequest) -> AsyncIterator[Opener]:
    """Open a room socket for a user (real session cookie, allowed Origin); all close at the end."""
    servers = _servers(request)
    opened: list[Any] = []

    async def opener(
        user: User | None, room: Room | str, *, origin: bytes = ORIGIN, cookie: str | None = None, query: str = ""
    ) -> Socket:
        headers = [(b"origin", origin), (b"host", b"localhost")]
        if user is not None:
            cookie = await sync_to_async(session_cookie)(user)
        if cookie is not None:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        room_id = room.pk if isinstance(room, Room) else room
        path = f"/ws/rooms/{room_id}/" + (f"?{query}" if query else "")
        communicator: Any
        if servers:
            try:
                communicator = await DaphneCommunicator.connect(servers[len(opened) % len(servers)], path, headers)
            except websockets.InvalidStatus as refused:
                raise AssertionError(f"the handshake was refused: {refused}") from None
        else:
            communicator = WebsocketCommunicator(application, path, headers=headers)
            connected, _ = await communicator.connect(timeout=TIMEOUT)
            assert connected, "the handshake was refused"
        opened.append(communicator)
        return Socket(communicator)

    yield opener
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()
    if servers:
        await every_socket_counted_out()
    await sockets_counted_out(daphne=bool(servers))


@pytest.fixture
def enter(open_socket: Opener) -> Opener:
    """Open a socket and read up to the `state` (or `waiting`) that follows admission."""

    async def entering(user: User, room: Room, *, until: str = "state", query: str = "") -> Socket:
        socket = await open_socket(user, room, query=query)
        await socket.expect(until)
        return socket

    return entering
