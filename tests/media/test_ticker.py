"""One task ticks every room of a node in turn (MediaNode._run), not one task per room.

The rooms' ticks run back to back every `tick` seconds: one timer wakes the loop, and the
policy's code is read into the caches once per round (docs/media.md, "Scale policies").
"""

from __future__ import annotations

import asyncio
import time
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


async def test_a_room_closed_from_its_own_tick_closes_and_the_others_tick_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # the app may close a room as it hears of the tick's messages (a lesson ending)
    node = MediaNode(nothing, tick=0.02)
    ticks: list[str] = []

    async def closing_b(room: Any) -> None:
        ticks.append(room.id)
        if room.id == "b":
            await node.close_room("b")

    monkeypatch.setattr(node, "_update_locked", closing_b)
    node._room("a")
    node._room("b")
    async with asyncio.timeout(5):
        while ticks.count("a") < 4:
            await asyncio.sleep(0.01)
    assert ticks.count("b") == 1 and "b" not in node._rooms
    # the last room closed from its own tick: the close completes, the ticker ends by itself
    closed: list[str] = []

    async def closing(room: Any) -> None:
        await node.close_room(room.id)
        closed.append(room.id)

    monkeypatch.setattr(node, "_update_locked", closing)
    ticker = node._ticker
    async with asyncio.timeout(5):
        while not closed:
            await asyncio.sleep(0.01)
        while ticker is not None and not ticker.done():
            await asyncio.sleep(0.01)
    assert closed == ["a"] and node._rooms == {} and node._ticker is None


async def test_the_loop_gets_a_turn_between_rooms_in_a_long_round(monkeypatch: pytest.MonkeyPatch) -> None:
    node = MediaNode(nothing, tick=0.05)
    order: list[str] = []

    async def slow(room: Any) -> None:
        order.append(room.id)
        time.sleep(0.004)  # a tick's CPU: nothing awaited

    async def packets() -> None:
        while True:
            order.append("loop")
            await asyncio.sleep(0)

    monkeypatch.setattr(node, "_update_locked", slow)
    for room in "abcdefgh":
        node._room(room)
    other = asyncio.get_running_loop().create_task(packets())
    async with asyncio.timeout(5):
        while order.count("h") < 1:
            await asyncio.sleep(0.001)
    other.cancel()
    round_ = order[order.index("a") : order.index("h") + 1]
    # 8 rooms of 4 ms: the loop ran something else within the round, at least every 2 rooms
    rooms_between = [len(run) for run in "".join("x" if step == "loop" else "r" for step in round_).split("x") if run]
    assert max(rooms_between) <= 2 and "loop" in round_
    for room in "abcdefgh":
        await node.close_room(room)
