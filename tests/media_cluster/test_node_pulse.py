"""A media node whose event loop is held up is slow, not gone: its pulse thread keeps it alive.

During a school morning's join storms a node's loop can be busy for seconds with DTLS handshakes;
with the heartbeat written from the loop, a node late by 3 s was declared lost and every
participant of its rooms sent to reconnect, which made the storm worse. Each node here runs in
a thread with a loop of its own, as `python -m media_server` runs in its process, and the test
holds that loop with a blocking sleep, as a burst of handshakes would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from media_server import bus

pytestmark = pytest.mark.redis


@dataclass
class ThreadNode:
    """A BusNode with its pulse, serving on a loop of its own in a thread."""

    url: str
    node_id: str
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    stop: asyncio.Event | None = None

    def start(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            self.stop = asyncio.Event()
            node = bus.BusNode(bus.connect(self.url), node_id=self.node_id, address="127.0.0.1", pulse_url=self.url)
            ready.set()
            await node.run(self.stop)
            await node.redis.aclose()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(main(),), daemon=True)
        self.thread.start()
        assert ready.wait(5)

    def hold(self, seconds: float) -> None:
        """Keep the node's loop from running for `seconds`, as a long burst of work would."""
        self.loop.call_soon_threadsafe(time.sleep, seconds)

    def close(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


@pytest.fixture
def nodes(bus_url: str) -> Iterator[list[ThreadNode]]:
    started = [ThreadNode(bus_url, "pulse-1"), ThreadNode(bus_url, "pulse-2")]
    for node in started:
        node.start()
    yield started
    for node in started:
        node.close()


async def _registered(client: bus.BusClient, count: int) -> None:
    async with asyncio.timeout(5):
        while len(await client.live_nodes()) < count:
            await asyncio.sleep(0.02)


async def test_a_node_held_longer_than_its_ttl_is_not_lost_and_takes_no_new_room(bus_url, nodes):
    client = bus.BusClient(bus.connect(bus_url))
    await _registered(client, 2)
    held, other = nodes
    await client.redis.hset(bus.ROOMS, "room-on-held", held.node_id)
    await client.redis.hset(bus.peers_key("room-on-held"), "7", "{}")

    held.hold(bus.NODE_TTL_MS / 1000 + 2)  # 5 s: past the 3 s a loop-written heartbeat lived
    await asyncio.sleep(bus.NODE_TTL_MS / 1000 + 1)

    # the process beats on: nothing is lost and the room stays where its media is
    assert await client.reap() == []
    assert {node["id"] for node in await client.live_nodes()} == {held.node_id, other.node_id}
    assert await client.place("room-on-held") == held.node_id
    # a new room goes to the node whose loop is on time, whatever the loads say
    for room in range(4):
        assert await client.place(f"new-{room}") == other.node_id
    await client.redis.aclose()


async def test_a_node_whose_loop_stays_stuck_is_declared_lost(bus_url, nodes, monkeypatch):
    monkeypatch.setattr(bus, "NODE_STALL_S", 1.5)
    client = bus.BusClient(bus.connect(bus_url))
    await _registered(client, 2)
    stuck, _ = nodes
    await client.redis.hset(bus.ROOMS, "room-on-stuck", stuck.node_id)
    await client.redis.hset(bus.peers_key("room-on-stuck"), "7", "{}")

    stuck.hold(4)
    lost: list[tuple[str, list[str]]] = []
    async with asyncio.timeout(3.5):
        while not lost:
            lost = await client.reap()
            await asyncio.sleep(0.1)

    assert lost == [("room-on-stuck", ["7"])]
    assert stuck.node_id.encode() not in await client.redis.smembers(bus.NODES)
    await client.redis.aclose()


async def test_a_stopped_node_is_gone_at_once_its_pulse_stopped_first(bus_url, nodes):
    client = bus.BusClient(bus.connect(bus_url))
    await _registered(client, 2)
    first, _ = nodes
    first.close()
    # the pulse is joined before the key is deleted: it is not written again after the stop
    await asyncio.sleep(bus.HEARTBEAT_S * 2)
    assert not await client.redis.exists(bus.node_key(first.node_id))
    await client.redis.aclose()
