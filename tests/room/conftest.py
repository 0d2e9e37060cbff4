"""Room fixtures: a live lesson of 6A and sockets opened through the real ASGI application."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import User
from classroom.actions.lessons import do_start_lesson
from classroom.models import Room, SchoolClass
from config.asgi import application
from tests.conftest import login

ORIGIN = b"http://localhost"
TIMEOUT = 3.0


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
        await asyncio.sleep(0.05)


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


Opener = Callable[..., Any]


@pytest.fixture
def lesson(teacher: User) -> Room:
    return do_start_lesson(SchoolClass.objects.get(name="6A"), teacher)


@pytest.fixture
async def open_socket() -> AsyncIterator[Opener]:
    """Open a room socket for a user (real session cookie, allowed Origin); all close at the end."""
    opened: list[WebsocketCommunicator] = []

    async def opener(
        user: User | None, room: Room | str, *, origin: bytes = ORIGIN, cookie: str | None = None
    ) -> Socket:
        headers = [(b"origin", origin), (b"host", b"localhost")]
        if user is not None:
            cookie = await sync_to_async(session_cookie)(user)
        if cookie is not None:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        room_id = room.pk if isinstance(room, Room) else room
        communicator = WebsocketCommunicator(application, f"/ws/rooms/{room_id}/", headers=headers)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected, "the handshake was refused"
        opened.append(communicator)
        return Socket(communicator)

    yield opener
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()
    await asyncio.sleep(0.05)


@pytest.fixture
def enter(open_socket: Opener) -> Opener:
    """Open a socket and read up to the `state` (or `waiting`) that follows admission."""

    async def entering(user: User, room: Room, *, until: str = "state") -> Socket:
        socket = await open_socket(user, room)
        await socket.expect(until)
        return socket

    return entering
