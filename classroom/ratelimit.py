"""Room socket limits: raw frames per user (in-process, before parsing) and messages per user (Redis).

Frames are counted before `json.loads`, in this process, with no I/O: a flooder's frames cost a
subtraction each and never reach the parser, the database thread or other users. The messages
that cost others attention (chat, reports, hands, polls) are counted per user and room on Redis
(with `REDIS_URL`; else in this process's cache), so opening more tabs or reaching another
server process gives no more of them. Both are counted on the event loop, before the message's
database turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from config.redis_clients import retry_options


@dataclass
class TokenBucket:
    """Hold up to `burst` tokens, refilled at `per_second`; each message takes `cost`."""

    burst: float
    per_second: float
    tokens: float = field(init=False)
    stamp: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, cost: float = 1.0) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


# A frame costs one token, plus one per whole FRAME_BYTES_PER_TOKEN characters: big frames count more.
FRAME_BYTES_PER_TOKEN = 16 * 1024
# Invalid frames tolerated before the socket is closed with 4400.
INVALID_FRAMES = (10.0, 1.0)


def frame_cost(length: int) -> float:
    return float(1 + length // FRAME_BYTES_PER_TOKEN)


class FrameLimits:
    """One frame bucket per (room, user), shared by that user's sockets in this process."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[TokenBucket, int]] = {}

    def acquire(self, room_id: str, user_id: str) -> TokenBucket:
        key = (room_id, user_id)
        bucket, users = self._buckets.get(key) or (
            TokenBucket(float(settings.ROOM_FRAME_BURST), float(settings.ROOM_FRAMES_PER_SECOND)),
            0,
        )
        self._buckets[key] = (bucket, users + 1)
        return bucket

    def release(self, room_id: str, user_id: str) -> None:
        key = (room_id, user_id)
        entry = self._buckets.get(key)
        if entry is None:
            return
        if entry[1] <= 1:
            del self._buckets[key]
        else:
            self._buckets[key] = (entry[0], entry[1] - 1)


frame_limits = FrameLimits()


def dropped_frames_bucket() -> TokenBucket:
    """How many frames over the rate one socket may send before it is closed (4429)."""
    burst = float(settings.ROOM_FRAMES_DROPPED_BEFORE_CLOSE)
    return TokenBucket(burst, burst / 10)


# (count, seconds) per user and room for the message types that cost others attention.
PER_USER = {
    "chat.send": (5, 10),
    "report": (3, 60),
    "hand": (5, 10),
    "poll.create": (5, 25),
    "groups.broadcast": (5, 10),
    "groups.speak": (20, 10),  # a press and a release each
    "group.join": (10, 10),
    "help.request": (3, 30),
    # a fast hand sends about 16 point batches a second (docs/benchmarks.md, "Drawing")
    "annotation": (250, 10),
}
# Message types counted together.
COUNTED_AS = {
    "hand.raise": "hand",
    "hand.lower": "hand",
    "annotation.add": "annotation",
    "annotation.extend": "annotation",
    "annotation.undo": "annotation",
    "annotation.clear": "annotation",
}


async def user_allows(room_id: str, user_id: int | str, message_type: str) -> bool:
    """Count one message of this type for the user in the room; False once over the limit.

    A fixed window per (room, user, type): on Redis one script counts and starts the window's
    expiry in one round trip (the cache's `add` then `incr` took three, on every message), from
    the event loop: a message is counted before its database turn, so one over its limit never
    takes the process's database thread, and none waits there for Redis. Without Redis, this
    process's in-memory cache (no I/O).
    """
    message_type = COUNTED_AS.get(message_type, message_type)
    limit = PER_USER.get(message_type)
    if limit is None:
        return True
    count, seconds = limit
    key = f"room-rate:{window_digest(room_id, user_id, message_type)}"
    if settings.REDIS_URL:
        # the cache's key (its prefix and version): clearing the cache clears the windows too
        script = _window_script(settings.REDIS_URL)
        return int(await script(keys=[cache.make_key(key)], args=[seconds])) <= count
    if cache.add(key, 1, seconds):
        return True
    try:
        taken = cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, seconds)
        return True
    return int(taken) <= count


def window_digest(room_id: str, user_id: int | str, counted_as: str) -> str:
    return hashlib.sha256(f"{room_id}:{user_id}:{counted_as}".encode()).hexdigest()[:32]


# The count in the window, the window's expiry set by its first message (atomic in Redis); a key
# left without one (the cache's add+incr could leave one when the window ended between the two)
# gets one, or its user would be refused for good.
WINDOW_SCRIPT = """
local taken = redis.call('INCR', KEYS[1])
if taken == 1 or redis.call('TTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return taken
"""
# The client of this process's event loop (an asyncio connection belongs to the loop that made it):
# daphne has one loop; a new loop (tests make one each) replaces the client, and the old goes.
_script: tuple[asyncio.AbstractEventLoop, str, AsyncScript] | None = None


def _window_script(url: str) -> AsyncScript:
    global _script
    loop = asyncio.get_running_loop()
    if _script is None or _script[0] is not loop or _script[1] != url:
        client = Redis.from_url(url, **retry_options())
        _script = (loop, url, client.register_script(WINDOW_SCRIPT))
    return _script[2]
