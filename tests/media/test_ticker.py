"""One task ticks every room of a node in turn (MediaNode._run), not one task per room.

The rooms' ticks run back to back every `tick` seconds: one timer wakes the loop, and the
policy's code is read into the caches once per round (docs/media.md, "Scale policies").
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from media_server import MediaNode


async def nothing(room: str, peer: str, message: dict[str, Any]) -> None:
    pass


async def test_one_task_ticks_every_room_and_stops_with_the_last(monkeypatch: pytest.MonkeyPatch) -> None:
    node = MediaNode(nothing, tick=0.02)
    ticks: list[str] = []

    async def noted(room: Any) -> None:
        ticks.append(room.id)

    monkeypatch.setattr(node, "_update_locked", noted)
    before = len(asyncio.all_tasks())
    for room in ("a", "b", "c"):
        node._room(room)
    assert len(asyncio.all_tasks()) == before + 1  # one ticker for the three rooms
    async with asyncio.timeout(5):
        while len(ticks) < 6:
            await asyncio.sleep(0.01)
    assert ticks[:6] == ["a", "b", "c", "a", "b", "c"]  # rounds, each room once, in turn
    await node.close_room("b")
    ticks.clear()
    async with asyncio.timeout(5):
        while len(ticks) < 4:
            await asyncio.sleep(0.01)
    assert "b" not in ticks  # a closed room is not ticked again
    ticker = node._ticker
    await node.close_room("a")
    await node.close_room("c")
    assert ticker is not None and ticker.done() and node._ticker is None  # nothing left ticking
    node._room("d")  # a room opened afterwards gets a ticker again
    ticks.clear()
    async with asyncio.timeout(5):
        while not ticks:
            await asyncio.sleep(0.01)
    assert set(ticks) == {"d"}
    await node.close_room("d")


async def test_a_tick_that_fails_does_not_stop_the_other_rooms(monkeypatch: pytest.MonkeyPatch) -> None:
    node = MediaNode(nothing, tick=0.02)
    ticks: list[str] = []

    async def failing_in_a(room: Any) -> None:
        ticks.append(room.id)
        if room.id == "a":
            raise RuntimeError("a policy bug")

    monkeypatch.setattr(node, "_update_locked", failing_in_a)
    node._room("a")
    node._room("b")
    async with asyncio.timeout(5):
        while ticks.count("b") < 3:
            await asyncio.sleep(0.01)
    assert ticks.count("a") >= 2  # a kept being ticked too
    await node.close_room("a")
    await node.close_room("b")
