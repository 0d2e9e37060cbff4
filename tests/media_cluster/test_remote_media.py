"""Real media through a remote media node: aiortc peers on the room socket, `python -m media_server` on Redis.

The teacher publishes a camera and a microphone, a student of the class watches; both drive their
media over their room socket through the real ASGI application, which places the room on a node
process over the bus. The student's frames are decoded, so nothing passes unless the node really
forwarded them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from media_server import bus
from tests.media.conftest import PatternTrack, ToneTrack, needs_netns

from .peers import HEIGHT, WIDTH, MediaClient, Tracks, connected

pytestmark = [needs_netns, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FRAMES = 10


def camera_and_microphone() -> Tracks:
    return {("camera", "normal"): PatternTrack(WIDTH, HEIGHT), ("microphone", "normal"): ToneTrack()}


def placement(url: str, room: str) -> str | None:
    value = redis.Redis.from_url(url, decode_responses=True).hget(bus.ROOMS, room)
    return str(value) if value is not None else None


async def forwarded_packets(url: str, node_id: str, *, more_than: int = 0, timeout: float = 4) -> int:
    """What a node's heartbeat says it forwarded, once that is more than `more_than`."""
    client = redis.Redis.from_url(url)
    async with asyncio.timeout(timeout):
        while True:
            info = client.get(bus.node_key(node_id))
            packets = int(json.loads(info)["load"]["forwarded_packets"]) if info else 0
            if packets > more_than:
                return packets
            await asyncio.sleep(0.2)


@pytest.fixture
async def media_client(enter: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    """Enter the lesson as a user and wrap their socket in a media engine; all close at the end."""
    clients: list[MediaClient] = []

    async def entering(user: Any, room: Any, local: Callable[[], Tracks] | None = None) -> MediaClient:
        client = MediaClient(await enter(user, room), local)
        clients.append(client)
        return client

    yield entering
    for client in clients:
        await client.close()


async def test_a_remote_node_forwards_real_camera_and_microphone(  # type: ignore[no-untyped-def]
    cluster, start_node, media_client, lesson, teacher, student
):
    start_node("node-a")
    marie = await media_client(teacher, lesson, camera_and_microphone)
    lea = await media_client(student, lesson)
    await marie.start()
    await lea.start()
    assert placement(cluster, str(lesson.pk)) == "node-a"

    video = await lea.decoded(str(teacher.pk), "camera", FRAMES)
    assert video[:FRAMES] == [(WIDTH, HEIGHT)] * FRAMES
    await lea.decoded(str(teacher.pk), "microphone", 20)
    # the node process did the forwarding, and says so in its heartbeat
    assert await forwarded_packets(cluster, "node-a") > 0


async def test_after_kill_9_of_its_node_media_flows_again_through_the_surviving_node(  # type: ignore[no-untyped-def]
    cluster, start_node, media_client, lesson, teacher, student
):
    nodes = {"node-a": start_node("node-a"), "node-b": start_node("node-b")}
    marie = await media_client(teacher, lesson, camera_and_microphone)
    lea = await media_client(student, lesson)
    await marie.start()
    await lea.start()
    await lea.decoded(str(teacher.pk), "camera", FRAMES)
    lost = placement(cluster, str(lesson.pk))
    assert lost in nodes
    survivor = ({"node-a", "node-b"} - {lost}).pop()
    redis_client = redis.Redis.from_url(cluster)
    assert json.loads(redis_client.get(bus.node_key(survivor)))["load"]["forwarded_packets"] == 0

    marks = {client: len(client.events) for client in (marie, lea)}
    nodes[lost].kill()
    killed = time.monotonic()
    for client, mark in marks.items():
        reconnect = await client.next("media.reconnect", since=mark, timeout=8)
        assert reconnect["reason"] == "node_lost"
    assert time.monotonic() - killed < 6

    # what the page does on media.reconnect: both connections anew, through media.join
    await asyncio.gather(marie.start(), lea.start())
    await lea.next("media.offer", since=marks[lea])
    assert placement(cluster, str(lesson.pk)) == survivor
    assert len(marie.publications) == 2 and len(lea.subscriptions) == 2
    await connected(marie.publications[-1])
    await connected(lea.subscriptions[-1].pc)
    video = await lea.decoded(str(teacher.pk), "camera", FRAMES)
    assert video[:FRAMES] == [(WIDTH, HEIGHT)] * FRAMES
    await lea.decoded(str(teacher.pk), "microphone", 20)
    assert await forwarded_packets(cluster, survivor) > 0


async def test_pages_move_into_their_groups_and_back_with_the_same_connections(  # type: ignore[no-untyped-def]
    cluster, start_node, media_client, enter, lesson, teacher, student, student2
):
    """A breakout group goes on its lesson's node, where the pages' connections move with them (resume)."""
    start_node("node-a")
    start_node("node-b")
    marie = await media_client(teacher, lesson, camera_and_microphone)
    lea = await media_client(student, lesson, camera_and_microphone)
    zoe = await media_client(student2, lesson, camera_and_microphone)
    for client in (marie, lea, zoe):
        await client.start()
    await lea.decoded(str(student2.pk), "camera", FRAMES)
    node = placement(cluster, str(lesson.pk))

    marks = {client: len(client.events) for client in (lea, zoe)}
    opened = await marie.request("groups.open", groups=[[str(student.pk)], [str(student2.pk)]])
    red, blue = (group["room"] for group in opened["groups"])
    for client, user, room in ((lea, student, red), (zoe, student2, blue)):
        assigned = await client.next("group.assigned", since=marks[client])
        assert assigned["group"]["room"] == room
        await client.socket.leave()  # the page's socket goes to the group (static/js/room/client.js moveTo)
        assert (await client.move(await enter(user, room)))["resumed"] is True
    assert placement(cluster, red) == placement(cluster, blue) == node
    # the teacher drops into Léa's group: both see each other on the connections made in the lesson
    await marie.socket.leave()
    assert (await marie.move(await enter(teacher, red)))["resumed"] is True
    await lea.decoded(str(teacher.pk), "camera", FRAMES)
    await marie.decoded(str(student.pk), "camera", FRAMES)
    assert lea.mid_of(str(student2.pk), "camera") is None

    # closing brings everyone back into the lesson, where media resumes
    marks = {client: len(client.events) for client in (marie, lea, zoe)}
    await marie.request("groups.close")
    for client, user in ((marie, teacher), (lea, student), (zoe, student2)):
        if client is not marie:
            await client.next("group.closed", since=marks[client])
        await client.socket.leave()
        assert (await client.move(await enter(user, lesson)))["resumed"] is True
    await lea.decoded(str(student2.pk), "camera", FRAMES)
    await zoe.decoded(str(student.pk), "camera", FRAMES)
    await zoe.decoded(str(teacher.pk), "microphone", 20)
    for client in (marie, lea, zoe):
        assert len(client.subscriptions) == 1 and len(client.publications) == 1
