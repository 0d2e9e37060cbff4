"""A peer's microphone heard in other rooms of the node (MediaNode.relay): the teacher speaking to every group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from media_server import MediaNode
from media_server.policy import PeerState
from media_server.room import GUEST_LEVEL, guest_state

from .conftest import Browser, ToneTrack, needs_netns

LESSON, GROUP, OTHER = "lesson", "group-1", "group-2"


def test_a_guest_is_heard_by_its_microphone_alone_and_loudest() -> None:
    teacher = PeerState("teacher", {("microphone", "normal"): "mic", ("camera", "normal"): "cam"}, level=90)
    heard = guest_state(teacher)
    assert heard is not None
    assert heard.tracks == {("microphone", "normal"): "mic"} and heard.level == GUEST_LEVEL
    assert guest_state(PeerState("teacher", {("camera", "normal"): "cam"})) is None


class RoomBrowser(Browser):
    """A browser in one of several rooms of the node."""

    def __init__(self, node: MediaNode, room_id: str, peer_id: str) -> None:
        super().__init__(node, peer_id)
        self.room_id = room_id

    async def send(self, message: dict[str, Any]) -> None:
        await self.node.handle(self.room_id, self.id, message)


def routed_node() -> tuple[MediaNode, dict[tuple[str, str], RoomBrowser]]:
    """A node whose messages reach the browser of their (room, peer), and that table of browsers."""
    browsers: dict[tuple[str, str], RoomBrowser] = {}

    async def send(room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        browsers[room_id, peer_id].deliver(message)

    return MediaNode(send, tick=0.1), browsers


@needs_netns
@pytest.mark.asyncio
async def test_a_relayed_microphone_reaches_the_other_rooms_while_on() -> None:
    node, browsers = routed_node()
    teacher = browsers[LESSON, "teacher"] = RoomBrowser(node, LESSON, "teacher")
    lea = browsers[GROUP, "lea"] = RoomBrowser(node, GROUP, "lea")
    zoe = browsers[OTHER, "zoe"] = RoomBrowser(node, OTHER, "zoe")
    try:
        await node.set_permissions(LESSON, "teacher", audio=True, video=True, screen=True)
        await teacher.publish({("microphone", "normal"): ToneTrack()})
        await lea.join()
        await zoe.join()
        await asyncio.sleep(0.5)
        assert lea.mid_of("teacher", "microphone") is None
        await node.relay(LESSON, "teacher", [GROUP, OTHER], True)
        await lea.wait_frames("teacher", "microphone", count=10)
        await zoe.wait_frames("teacher", "microphone", count=10)
        await node.relay(LESSON, "teacher", [GROUP, OTHER], False)
        async with asyncio.timeout(5):
            while lea.mid_of("teacher", "microphone") is not None:
                await asyncio.sleep(0.05)
        # the teacher leaving the lesson takes the relay with them
        await node.relay(LESSON, "teacher", [GROUP], True)
        await lea.wait_frames("teacher", "microphone", count=5)
        await node.leave(LESSON, "teacher")
        assert "teacher" not in node._rooms[GROUP].guests
    finally:
        for browser in browsers.values():
            await browser.close()
        for room_id in (LESSON, GROUP, OTHER):
            await node.close_room(room_id)


@needs_netns
@pytest.mark.asyncio
async def test_a_group_with_no_media_yet_hears_the_relay_once_someone_joins() -> None:
    """groups.speak before anyone of a group joined media there: whoever joins next hears the teacher."""
    node, browsers = routed_node()
    teacher = browsers[LESSON, "teacher"] = RoomBrowser(node, LESSON, "teacher")
    lea = browsers[GROUP, "lea"] = RoomBrowser(node, GROUP, "lea")
    try:
        await node.set_permissions(LESSON, "teacher", audio=True, video=True, screen=True)
        await teacher.publish({("microphone", "normal"): ToneTrack()})
        await node.relay(LESSON, "teacher", [GROUP], True)
        await lea.join()
        await lea.wait_frames("teacher", "microphone", count=10)
        await node.relay(LESSON, "teacher", [GROUP], False)
        assert "teacher" not in node._rooms[GROUP].guests
    finally:
        for browser in browsers.values():
            await browser.close()
        for room_id in (LESSON, GROUP):
            await node.close_room(room_id)
