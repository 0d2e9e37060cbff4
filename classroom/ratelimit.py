"""Per-socket token buckets: cheap, in-process, no I/O, so a flooder only slows itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """Hold up to `burst` tokens, refilled at `per_second`; each message takes one."""

    burst: float
    per_second: float
    tokens: float = field(init=False)
    stamp: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# (burst, per second) for every message, then for the message types that cost others attention.
ANY_MESSAGE = (40.0, 20.0)
PER_TYPE = {
    "chat.send": (5.0, 0.5),  # 5 per 10 s
    "report": (3.0, 0.05),
    "hand.raise": (5.0, 0.5),
    "hand.lower": (5.0, 0.5),
    "poll.create": (5.0, 0.2),
}
# Invalid frames tolerated before the socket is closed with 4400.
INVALID_FRAMES = (10.0, 1.0)


class SocketLimits:
    """The buckets of one socket."""

    def __init__(self) -> None:
        self.any = TokenBucket(*ANY_MESSAGE)
        self.invalid = TokenBucket(*INVALID_FRAMES)
        self.per_type: dict[str, TokenBucket] = {}

    def allow(self, message_type: str) -> bool:
        if not self.any.take():
            return False
        limit = PER_TYPE.get(message_type)
        if limit is None:
            return True
        bucket = self.per_type.get(message_type)
        if bucket is None:
            bucket = self.per_type[message_type] = TokenBucket(*limit)
        return bucket.take()
