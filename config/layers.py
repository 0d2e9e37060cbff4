"""The embedded default's channel layer."""

from __future__ import annotations

import time

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer


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
