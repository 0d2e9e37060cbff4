"""Media nodes as separate processes on a real Redis, and the app's bridge pointed at them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from classroom import events, media
from media_server import bus
from tests.conftest import PRODUCTION
from tests.room.conftest import enter, lesson, open_socket  # noqa: F401  (fixtures for the consumer test)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.redis


class Node:
    """One `python -m media_server` process."""

    def __init__(self, url: str, node_id: str) -> None:
        self.id = node_id
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "media_server", "--redis", url, "--node-id", node_id, "--log-level", "WARNING"],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def bus_url(request: pytest.FixtureRequest, redis_server: Any) -> str:
    """A database of the session's Redis of its own, with no node at the start of each test.

    In the production shape it is the daphne processes' REDIS_URL, so that their sockets signal
    media through these nodes; only the bus's placements go, not the dispatcher's lock and
    stream that those processes hold, nor their channel layer.
    """
    if PRODUCTION:
        url: str = request.getfixturevalue("production_redis_url")
        client = redis.Redis.from_url(url)
        kept = {bus.EVENTS.encode(), bus.DISPATCHER_LOCK.encode()}
        for key in client.scan_iter(match=f"{bus.PREFIX}:*", count=1000):
            if key not in kept:
                client.delete(key)
        return url
    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def start_node(bus_url: str) -> Iterator[Callable[[str], Node]]:
    """Start a media node process and wait for its first heartbeat; all stop at the end."""
    started: list[Node] = []
    client = redis.Redis.from_url(bus_url)

    def start(node_id: str) -> Node:
        node = Node(bus_url, node_id)
        started.append(node)
        deadline = time.monotonic() + 30
        while not client.exists(bus.node_key(node_id)):
            assert node.proc.poll() is None, f"media node {node_id} exited with {node.proc.returncode}"
            assert time.monotonic() < deadline, f"media node {node_id} never registered"
            time.sleep(0.05)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
async def cluster(settings: Any, bus_url: str) -> AsyncIterator[str]:
    """Point the bridge and the channel layer at the bus's Redis, as REDIS_URL does."""
    settings.REDIS_URL = bus_url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "config.layers.RedisPubSubChannelLayer", "CONFIG": {"hosts": [bus_url]}}
    }
    yield bus_url
    await media.close_bus()


class Inbox:
    """What the channel layer delivers to one user's sockets in a room."""

    def __init__(self, layer: Any, channel: str) -> None:
        self.layer = layer
        self.channel = channel

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                message = await self.layer.receive(self.channel)
                if message["event"]["type"] == kind:
                    event: dict[str, Any] = message["event"]
                    return event


@pytest.fixture
async def inbox(cluster: str) -> Callable[[str, str], Any]:
    """Subscribe a channel to a user's group in a room, as the user's socket does."""
    from channels.layers import get_channel_layer

    async def subscribe(room: str, user: str) -> Inbox:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.user_group(room, user), channel)
        return Inbox(layer, channel)

    return subscribe
