"""The embedded channel layer still expires messages, but sweeps at most once a second."""

import asyncio

from config.layers import InMemoryChannelLayer


async def test_expired_messages_are_still_swept() -> None:
    layer = InMemoryChannelLayer(expiry=0.05)
    await layer.send("stale", {"type": "x"})
    layer._last_sweep = 0.0
    await asyncio.sleep(0.1)  # the point: past the message's expiry (0.05 s)
    await layer.group_send("anyone", {"type": "y"})
    assert "stale" not in layer.channels


async def test_a_burst_of_sends_sweeps_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    layer = InMemoryChannelLayer()
    sweeps = []
    monkeypatch.setattr(InMemoryChannelLayer.__mro__[1], "_clean_expired", lambda self: sweeps.append(1))
    for _ in range(50):
        await layer.group_send("room", {"type": "z"})
    assert len(sweeps) == 1
