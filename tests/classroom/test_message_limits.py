"""Messages per user and room (classroom/ratelimit.py) counted on Redis, as web processes share them."""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.core.cache import cache

from classroom import ratelimit
from tests.services import RedisInstance


@pytest.fixture
def on_redis(redis_server: RedisInstance, settings, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:  # type: ignore[no-untyped-def]
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    settings.REDIS_URL = url
    monkeypatch.setitem(ratelimit.PER_USER, "chat.send", (3, 1))
    return client


async def test_the_fourth_message_in_the_window_is_refused_and_the_next_window_allows(on_redis: redis.Redis) -> None:
    assert [await ratelimit.user_allows("room", 7, "chat.send") for _ in range(4)] == [True, True, True, False]
    assert await ratelimit.user_allows("room", 8, "chat.send"), "another user has a window of their own"
    assert await ratelimit.user_allows("other-room", 7, "chat.send"), "so has another room"
    await asyncio.sleep(1.1)
    assert await ratelimit.user_allows("room", 7, "chat.send")


async def test_a_window_expires_from_its_first_message(on_redis: redis.Redis) -> None:
    await ratelimit.user_allows("room", 7, "chat.send")
    (key,) = on_redis.keys("*room-rate:*")
    assert key.decode().startswith(cache.make_key("room-rate:"))  # the cache's key: cleared with it
    assert 0 < on_redis.pttl(key) <= 1000
    await asyncio.sleep(0.2)
    await ratelimit.user_allows("room", 7, "chat.send")
    assert on_redis.pttl(key) <= 850  # the next message does not push the window's end back
    assert int(on_redis.get(key) or 0) == 2


async def test_a_window_left_without_an_expiry_gets_one(on_redis: redis.Redis) -> None:
    """The cache's add+incr could leave one (the window ended between them): its user, refused for good."""
    key = cache.make_key("room-rate:" + ratelimit.window_digest("room", 7, "chat.send"))
    on_redis.set(key, 50)
    assert not await ratelimit.user_allows("room", 7, "chat.send")
    assert 0 < on_redis.pttl(key) <= 1000


async def test_types_counted_together_share_a_window(on_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ratelimit.PER_USER, "hand", (2, 1))
    assert await ratelimit.user_allows("room", 7, "hand.raise")
    assert await ratelimit.user_allows("room", 7, "hand.lower")
    assert not await ratelimit.user_allows("room", 7, "hand.raise")
