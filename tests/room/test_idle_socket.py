"""An idle room socket on Redis stays open: the channel layer's blocking read must not time out.

redis-py 8 gives every connection a 5 s socket timeout, which cuts channels-redis's 5 s BZPOPMIN
and tore every quiet socket down after 5-7 s; config/settings.py gives the channel layer a longer one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.livesite import LESSON_SETUP, LiveSite, Server

pytestmark = pytest.mark.redis

IDLE_SECONDS = 35


@pytest.fixture
def lesson_on_redis(redis_server, tmp_path) -> Iterator[tuple[Server, dict[str, str]]]:  # type: ignore[no-untyped-def]
    site = LiveSite(tmp_path, REDIS_URL=redis_server.url)
    data = site.shell(LESSON_SETUP)
    try:
        yield site.start(), data
    finally:
        site.stop()


async def expect(socket: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        while True:
            event: dict[str, Any] = json.loads(await socket.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(read(), timeout)


async def test_an_idle_socket_stays_open_and_still_gets_events(lesson_on_redis) -> None:  # type: ignore[no-untyped-def]
    server, data = lesson_on_redis
    async with server.socket(data["room"], data["teacher"]) as teacher:
        await expect(teacher, "state")
        await asyncio.sleep(IDLE_SECONDS)  # nothing sent either way: a quiet lesson
        async with server.socket(data["room"], data["student"]) as student:
            await expect(student, "state")
            await student.send(json.dumps({"type": "chat.send", "text": "toujours là ?", "ref": 1}))
            message = await expect(teacher, "chat.message")
            assert message["message"]["text"] == "toujours là ?"
        await teacher.send(json.dumps({"type": "ping", "ref": "after"}))
        assert (await expect(teacher, "ok"))["ref"] == "after"
        assert teacher.close_code is None
