"""A lesson's breakout groups go on its media node, so that its teacher can be heard in them (issue 17)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from classroom import media
from media_server import bus

pytestmark = pytest.mark.redis


async def alive(client: Any, node_id: str) -> None:
    """A node's heartbeat key, as a live node writes it."""
    await client.set(bus.node_key(node_id), json.dumps({"id": node_id, "load": {}}), ex=30)
    await client.sadd(bus.NODES, node_id)


async def test_groups_are_placed_on_their_lessons_node(cluster: str) -> None:
    client = aioredis.Redis.from_url(cluster)
    await alive(client, "node-a")
    await alive(client, "node-b")
    await client.hset(bus.ROOMS, "lesson", "node-b")
    await client.hset(bus.ROOMS, "group-3", "node-a")  # placed already: it stays
    await media.colocate(["group-1", "group-2", "group-3"], "lesson")
    placed = {key.decode(): value.decode() for key, value in (await client.hgetall(bus.ROOMS)).items()}
    assert placed == {"lesson": "node-b", "group-1": "node-b", "group-2": "node-b", "group-3": "node-a"}
    await client.aclose()


async def test_a_lesson_without_media_is_placed_with_its_groups(cluster: str) -> None:
    """Groups opened before anyone joined the lesson's media still share its node (pages resume there)."""
    client = aioredis.Redis.from_url(cluster)
    await alive(client, "node-a")
    await alive(client, "node-b")
    await media.colocate(["group-1", "group-2"], "lesson")
    placed = {key.decode(): value.decode() for key, value in (await client.hgetall(bus.ROOMS)).items()}
    assert set(placed) == {"lesson", "group-1", "group-2"}
    assert placed["lesson"] in ("node-a", "node-b")
    assert placed["group-1"] == placed["group-2"] == placed["lesson"]
    await client.aclose()


async def test_groups_with_no_live_node_or_a_lesson_on_a_dead_node_are_placed_later(cluster: str) -> None:
    client = aioredis.Redis.from_url(cluster)
    await media.colocate(["group-1"], "lesson")  # no node is running
    assert await client.hgetall(bus.ROOMS) == {}
    await client.hset(bus.ROOMS, "lesson", "node-gone")
    await media.colocate(["group-2"], "lesson")
    assert await client.hgetall(bus.ROOMS) == {b"lesson": b"node-gone"}
    await client.aclose()
