"""Media nodes as separate processes: placement, signalling over the bus, failover."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from classroom import media
from media_server import bus

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOM_1 = "11111111-1111-1111-1111-111111111111"
ROOM_2 = "22222222-2222-2222-2222-222222222222"


def placement(url: str, room: str) -> str | None:
    value = redis.Redis.from_url(url, decode_responses=True).hget(bus.ROOMS, room)
    return str(value) if value is not None else None


async def allow(room: str, user: str) -> None:
    await media.update_permissions(room, user, audio=True, video=True, screen=False, always_forward=False)


async def joined(inbox: Any) -> Any:
    """User 1's inbox in room 1, once allowed to publish and joined to media (the offer came)."""
    alice = await inbox(ROOM_1, "1")
    await allow(ROOM_1, "1")
    assert await media.handle_media_message(ROOM_1, "1", {"type": "media.join"}) is None
    await alice.expect("media.offer")
    return alice


async def test_a_join_through_the_bus_gets_joined_and_an_offer(cluster, start_node, inbox):  # type: ignore[no-untyped-def]
    start_node("node-a")
    alice = await inbox(ROOM_1, "1")
    await allow(ROOM_1, "1")
    assert await media.handle_media_message(ROOM_1, "1", {"type": "media.join", "quality": "low", "ref": 3}) is None
    joined = await alice.expect("media.joined")
    assert isinstance(joined["ice_servers"], list)
    offer = await alice.expect("media.offer")
    assert offer["sdp"].startswith("v=0") and offer["restart"] is False
    assert placement(cluster, ROOM_1) == "node-a"


async def test_rooms_are_placed_on_the_least_loaded_node(cluster, start_node, inbox):  # type: ignore[no-untyped-def]
    start_node("node-a")
    start_node("node-b")
    for room, user in ((ROOM_1, "1"), (ROOM_2, "2")):
        box = await inbox(room, user)
        assert await media.handle_media_message(room, user, {"type": "media.join"}) is None
        await box.expect("media.offer")
    assert {placement(cluster, ROOM_1), placement(cluster, ROOM_2)} == {"node-a", "node-b"}


async def test_a_refused_message_comes_back_as_code_and_message(cluster, start_node):  # type: ignore[no-untyped-def]
    start_node("node-a")
    code, message = await media.handle_media_message(ROOM_1, "1", {"type": "media.join", "quality": "ultra"})
    assert code == "invalid" and "quality" in message
    code, _ = await media.handle_media_message(ROOM_1, "1", {"type": "media.answer", "pc": "subscribe", "sdp": "v=0"})
    assert code == "conflict"


async def test_without_a_live_node_media_is_unavailable(cluster):  # type: ignore[no-untyped-def]
    code, message = await media.handle_media_message(ROOM_1, "1", {"type": "media.join"})
    assert code == "unavailable" and "No media server" in message


async def test_without_a_live_node_the_socket_gets_an_unavailable_error_and_stays_open(cluster, enter, lesson, teacher):  # type: ignore[no-untyped-def]
    socket = await enter(teacher, lesson)
    error = await socket.request("media.join", quality="low")
    assert error["type"] == "error" and error["code"] == "unavailable" and "No media server" in error["message"]
    assert (await socket.request("ping"))["type"] == "ok"


async def test_a_killed_nodes_participants_reconnect_onto_a_live_node(cluster, start_node, inbox):  # type: ignore[no-untyped-def]
    nodes = {"node-a": start_node("node-a"), "node-b": start_node("node-b")}
    alice, bob = await inbox(ROOM_1, "1"), await inbox(ROOM_1, "2")
    await allow(ROOM_1, "1")
    await allow(ROOM_1, "2")
    assert await media.handle_media_message(ROOM_1, "1", {"type": "media.join"}) is None
    await alice.expect("media.offer")
    lost = placement(cluster, ROOM_1)
    assert lost in nodes

    nodes[lost].kill()
    killed = time.monotonic()
    for box in (alice, bob):
        reconnect = await box.expect("media.reconnect", timeout=8)
        assert reconnect["reason"] == "node_lost"
    noticed = time.monotonic() - killed
    assert noticed < 5, f"the dead node was noticed after {noticed:.1f} s"

    assert await media.handle_media_message(ROOM_1, "1", {"type": "media.join"}) is None
    await alice.expect("media.joined")
    await alice.expect("media.offer")
    assert placement(cluster, ROOM_1) == ({"node-a", "node-b"} - {lost}).pop()


async def test_a_node_restarted_under_the_same_id_sends_its_old_rooms_browsers_back(cluster, start_node, inbox):  # type: ignore[no-untyped-def]
    node = start_node("node-a")
    alice = await joined(inbox)
    # killed and started again at once: its heartbeat never expires, nobody notices it died
    node.kill()
    start_node("node-a")
    assert (await alice.expect("media.reconnect", timeout=10))["reason"] == "node_lost"
    assert placement(cluster, ROOM_1) is None
    # the room is placed again on the next join, its permissions replayed
    assert await media.handle_media_message(ROOM_1, "1", {"type": "media.join"}) is None
    await alice.expect("media.joined", timeout=5)
    await alice.expect("media.offer", timeout=5)
    assert placement(cluster, ROOM_1) == "node-a"


async def test_a_stopped_node_tells_its_browsers_to_reconnect_and_gives_up_its_rooms(cluster, start_node, inbox):  # type: ignore[no-untyped-def]
    node = start_node("node-a")
    alice = await joined(inbox)
    node.stop()
    assert node.proc.returncode == 0
    assert (await alice.expect("media.reconnect"))["reason"] == "node_closing"
    assert placement(cluster, ROOM_1) is None
    assert not redis.Redis.from_url(cluster).exists(bus.node_key("node-a"))


async def test_a_closed_room_leaves_its_node(cluster, start_node, inbox):  # type: ignore[no-untyped-def]
    start_node("node-a")
    alice = await inbox(ROOM_1, "1")
    assert await media.handle_media_message(ROOM_1, "1", {"type": "media.join"}) is None
    await alice.expect("media.offer")
    await media.room_closed(ROOM_1)
    assert placement(cluster, ROOM_1) is None
    assert not redis.Redis.from_url(cluster).exists(bus.peers_key(ROOM_1))


async def test_health_lists_the_live_nodes_and_their_load(settings, bus_url, start_node) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = bus_url
    assert (await media.media_health())["status"] == "down: no media node"
    start_node("node-a")
    health: dict[str, Any] = await media.media_health()
    assert health["status"] == "ok" and health["mode"] == "redis"
    assert [node["id"] for node in health["nodes"]] == ["node-a"]
    assert health["nodes"][0]["load"]["peers"] == 0


async def test_the_room_socket_signals_media_through_a_remote_node(cluster, start_node, enter, lesson, teacher):  # type: ignore[no-untyped-def]
    start_node("node-a")
    socket = await enter(teacher, lesson)
    await socket.send({"type": "media.join", "quality": "normal", "ref": 9})
    assert (await socket.expect("ok"))["ref"] == 9
    assert isinstance((await socket.expect("media.joined", timeout=5))["ice_servers"], list)
    assert (await socket.expect("media.offer", timeout=5))["sdp"].startswith("v=0")
    assert placement(cluster, str(lesson.pk)) == "node-a"


async def test_two_tabs_through_a_remote_node_the_last_join_owns_the_media(cluster, start_node, enter, lesson, teacher):  # type: ignore[no-untyped-def]
    start_node("node-a")
    first = await enter(teacher, lesson)
    second = await enter(teacher, lesson)
    await first.send({"type": "media.join", "ref": 1})
    await first.expect("media.offer", timeout=5)
    owners = redis.Redis.from_url(cluster, decode_responses=True).hgetall(media.owners_key(str(lesson.pk)))
    assert list(owners) == [str(teacher.pk)]

    await second.send({"type": "media.join", "ref": 2})
    await second.expect("media.joined", timeout=5)
    await second.expect("media.offer", timeout=5)
    assert (await first.expect("media.moved", timeout=5))["reason"] == "other_tab"
    assert (await first.request("media.restart", pc="subscribe"))["code"] == "conflict"
    # the node's events go to the owner's channel only
    assert (await second.request("media.restart", pc="subscribe"))["type"] == "ok"
    assert (await second.expect("media.offer", timeout=5))["restart"] is True
    seen = len(first.seen)
    while not await first.communicator.receive_nothing(0.5):
        await first.receive()
    assert "media.offer" not in [event["type"] for event in first.seen[seen:]]

    await second.leave()
    assert not redis.Redis.from_url(cluster).hexists(media.owners_key(str(lesson.pk)), str(teacher.pk))
    assert (await first.expect("media.released", timeout=5))["reason"] == "owner_left"
