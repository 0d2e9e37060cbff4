"""The bus's commands are closed schemas (media_server/bus.py): each crosses the wire and reaches the node."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from media_server import bus
from media_server.protocol import MediaError

pytestmark = pytest.mark.redis

ROOM = "room-bus-commands"
ALLOWED = bus.Permissions(audio=True, video=False, screen=True)
COMMANDS: dict[str, tuple[bus.Command, set[str]]] = {
    "handle": (
        bus.Handle(room=ROOM, peer="1", message={"type": "media.join"}, reply_to=bus.reply_key("r")),
        {"op", "room", "peer", "message", "reply_to"},
    ),
    "set_permissions": (
        bus.SetPermissions(room=ROOM, peer="1", permissions=ALLOWED),
        {"op", "room", "peer", "permissions"},
    ),
    "leave": (bus.Leave(room=ROOM, peer="1"), {"op", "room", "peer"}),
    "close_room": (bus.CloseRoom(room=ROOM), {"op", "room"}),
    "relay": (bus.Relay(room=ROOM, peer="1", to_rooms=["group-1"], on=True), {"op", "room", "peer", "to_rooms", "on"}),
}


@pytest.mark.parametrize("op", COMMANDS)
def test_command_crosses_the_wire_unchanged_in_the_same_shape(op: str) -> None:
    command, fields = COMMANDS[op]
    wire = command.model_dump_json()
    assert bus.COMMAND.validate_json(wire) == command
    # the JSON keys of the dicts sent before: nodes and web processes of two versions understand each other
    assert set(json.loads(wire)) == fields and json.loads(wire)["op"] == op


@pytest.mark.parametrize("op", COMMANDS)
def test_command_with_an_unknown_field_is_refused(op: str) -> None:
    wire = json.loads(COMMANDS[op][0].model_dump_json()) | {"priority": 1}
    with pytest.raises(ValidationError, match="priority"):
        bus.COMMAND.validate_python(wire)


def test_unknown_op_and_open_permissions_are_refused() -> None:
    with pytest.raises(ValidationError):
        bus.COMMAND.validate_python({"op": "reboot", "room": ROOM})
    with pytest.raises(ValidationError, match="camera"):
        bus.COMMAND.validate_python(
            {"op": "set_permissions", "room": ROOM, "peer": "1", "permissions": ALLOWED.model_dump() | {"camera": True}}
        )


@pytest.fixture
async def served(bus_url: str) -> AsyncIterator[tuple[bus.BusNode, bus.BusClient]]:
    """A node serving on the test's Redis in this process, and a client of the bus."""
    node = bus.BusNode(bus.connect(bus_url), node_id="bus-commands", address="127.0.0.1")
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    client = bus.BusClient(bus.connect(bus_url))
    async with asyncio.timeout(5):
        while not await client.live_nodes():
            await asyncio.sleep(0.02)
    yield node, client
    stop.set()
    await task


async def until(done: Callable[[], Any]) -> None:
    async with asyncio.timeout(5):
        while not done():
            await asyncio.sleep(0.01)


async def test_node_skips_a_command_it_cannot_read_and_runs_each_command(served) -> None:  # type: ignore[no-untyped-def]
    node, client = served
    await client.redis.rpush(bus.inbox_key(node.id), json.dumps({"op": "handle", "room": ROOM, "peer": "1"}))
    await client.redis.rpush(bus.inbox_key(node.id), b"not json")

    # handle: the node's answer comes back on the reply list (an invalid media message here)
    with pytest.raises(MediaError) as refused:
        await client.handle(ROOM, "1", {"type": "media.nonsense"})
    assert refused.value.code == "invalid"
    assert node.node.room_ids() == [ROOM]

    await client.set_permissions(ROOM, "1", audio=True, video=False, screen=True)
    peers = node.node._rooms[ROOM].peers
    await until(lambda: "1" in peers and peers["1"].permissions.audio and peers["1"].permissions.screen)
    assert not peers["1"].permissions.video

    # relay: the peer's microphone is a guest of another room placed on the node
    await client.handle("group-1", "2", {"type": "media.leave"})
    await client.relay(ROOM, "1", ["group-1"], True)
    guests = node.node._rooms["group-1"].guests
    await until(lambda: "1" in guests)
    await client.relay(ROOM, "1", ["group-1"], False)
    await until(lambda: "1" not in guests)
    await client.close_room("group-1")
    # a group nobody joined the media of yet is placed on the node and hears the relay; one placed
    # on another node is left out
    await client.redis.hset(bus.ROOMS, "group-elsewhere", "another-node")
    await client.relay(ROOM, "1", ["group-2", "group-elsewhere"], True)
    await until(lambda: "group-2" in node.node.room_ids() and "1" in node.node._rooms["group-2"].guests)
    assert await client.placement("group-2") == node.id
    assert "group-elsewhere" not in node.node.room_ids()
    await client.relay(ROOM, "1", ["group-2"], False)
    await client.close_room("group-2")
    await client.redis.hdel(bus.ROOMS, "group-elsewhere")

    await client.leave(ROOM, "1")
    await until(lambda: "1" not in peers)

    await client.close_room(ROOM)
    await until(lambda: node.node.room_ids() == [])
