"""The channel layers: the embedded default's in-memory one, and Redis pub/sub for the production shape."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer as ChannelsRedisPubSubChannelLayer
from channels_redis.pubsub import RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

from config.metrics import CHANNEL_FULL

log = logging.getLogger(__name__)


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Channels' in-memory layer, sweeping expired messages at most once a second.

    Channels sweeps every channel and group on each receive and group_send, so one
    event to 200 sockets costs 200 x 200 steps (bench/room_fanout.py found it at
    the top of the profile). Messages expire after 60 s and group memberships
    after a day: a sweep a second keeps the same behaviour at a fixed cost.
    """

    sweep_interval = 1.0
    _last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < self.sweep_interval:
            return
        self._last_sweep = now
        super()._clean_expired()  # type: ignore[misc]  # private to channels, absent from its stubs


class DroppingQueue(asyncio.Queue[Any]):
    """A socket's queue of events that drops what it cannot hold, as a full channel does."""

    def put_nowait(self, item: Any) -> None:
        if self.full():
            CHANNEL_FULL.inc()
            log.warning("dropped a message for a socket not reading: its queue holds %d", self.maxsize)
            return
        super().put_nowait(item)


class _PubSubLoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]  # channels-redis has no types
    def __init__(self, *args: Any, capacity: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self.client_prefix = uuid.uuid4().hex

    async def discard_channel(self, channel: str) -> None:
        """Forget a channel of this process (channels-redis forgets one only when a receive on it is cancelled)."""
        if self.channels.pop(channel, None) is not None:
            await self._get_shard(channel).unsubscribe(channel)

    async def new_channel(self, prefix: str = "specific.") -> str:
        # `specific.<process>!<socket>` as channels-redis's queue layer names them: the part before
        # the `!` says which process holds a socket (classroom/heartbeat.py sweeps by it)
        channel = f"{prefix}{self.client_prefix}!{uuid.uuid4().hex}"
        await self._subscribe_to_channel(channel)
        return channel

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = DroppingQueue(self.capacity)
        await self._get_shard(channel).subscribe(channel)


class RedisPubSubChannelLayer(ChannelsRedisPubSubChannelLayer):  # type: ignore[misc]
    """channels-redis's pub/sub layer, each socket's queue bounded like the queue layer's channels."""

    def __init__(self, *args: Any, capacity: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._capacity = capacity

    def _get_layer(self) -> Any:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _PubSubLoopLayer(*self._args, capacity=self._capacity, channel_layer=self, **self._kwargs)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
