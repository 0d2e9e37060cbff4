"""How every Redis client of the web side survives a Redis restart: reconnect and retry.

redis-py retries nothing when a client is built on a connection pool of its own (channels-redis,
Django's cache, `Redis.from_url`): after Redis restarts, each pooled connection fails once on its
next use. A chat broadcast sent on such a connection was lost, and a page joined the room on a
stale connection only to be closed. With this policy a command that meets a closed connection
reconnects and runs again, a few times within half a second; a Redis that stays down still fails
fast. Commands are retried only on a broken connection, where the server most likely never ran
them; the rare duplicate (ran, then the reply was lost) is a message shown twice, never a lost one.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

RETRIES = 3
# 50, 100 then 200 ms between tries: a restarted Redis answers again within the first
BACKOFF = {"base": 0.05, "cap": 0.5}


def retry_options(*, asynchronous: bool = True) -> dict[str, Any]:
    """Keyword arguments for a redis-py connection pool, asyncio (default) or blocking."""
    policy = (AsyncRetry if asynchronous else Retry)(ExponentialBackoff(**BACKOFF), RETRIES)
    return {"retry": policy, "retry_on_error": [RedisConnectionError]}
