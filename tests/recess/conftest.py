"""Recess fixtures: a recess of 6A, pages that keep pinging, and the forwarder's permission calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import User
from classroom import media
from classroom.actions.recess import do_create_recess
from classroom.models import Room, SchoolClass
from tests.room.conftest import Socket, enter, lesson, open_socket  # noqa: F401  (fixtures)

PING_EVERY = 0.5


@pytest.fixture
def recess(supervisor: User) -> Room:
    return do_create_recess(supervisor, "Récré 6A", [SchoolClass.objects.get(name="6A")])


@dataclass
class PermissionCall:
    room_id: str
    user_id: str
    audio: bool
    video: bool
    screen: bool
    always_forward: bool


@pytest.fixture
def forwarder(monkeypatch: pytest.MonkeyPatch) -> list[PermissionCall]:
    """Every `classroom.media.update_permissions` call, in order (the forwarder is not wired yet)."""
    calls: list[PermissionCall] = []

    async def record(room_id: str, user_id: str, **allowed: Any) -> None:
        calls.append(PermissionCall(room_id, user_id, **allowed))

    monkeypatch.setattr(media, "update_permissions", record)
    return calls


@pytest.fixture
async def alive() -> AsyncIterator[Callable[[Socket], None]]:
    """Keep a socket pinging like the recess page does (no `ref`: no reply to read)."""
    tasks: list[asyncio.Task[None]] = []

    async def ping(socket: Socket) -> None:
        while not socket.communicator.future.done():
            try:
                await socket.send({"type": "ping"})
            except Exception:
                return
            await asyncio.sleep(PING_EVERY)

    def keep(socket: Socket) -> None:
        tasks.append(asyncio.get_running_loop().create_task(ping(socket)))

    yield keep
    for task in tasks:
        task.cancel()
