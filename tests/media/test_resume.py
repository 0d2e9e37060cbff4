"""A peer's connections moving between rooms of the node (media.join `resume`): a breakout group move.

The page keeps its two RTCPeerConnections; the node parks the peer that left a room and moves it
into the room it joins with its token. Real aiortc peers (tests/media/conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from media_server import MediaNode
from media_server.room import Peer

from .conftest import Browser, PatternTrack, ToneTrack, needs_netns

LESSON, GROUP = "lesson", "group-1"


class MovingBrowser(Browser):
    """A page whose socket is in one room at a time, and can move to another."""

    def __init__(self, node: MediaNode, room_id: str, peer_id: str) -> None:
        super().__init__(node, peer_id)
        self.room_id = room_id
        self.token: str | None = None

    def deliver(self, message: dict[str, Any]) -> None:
        if message["type"] == "media.joined":
            self.token = message["resume"]
        super().deliver(message)

    async def send(self, message: dict[str, Any]) -> None:
        await self.node.handle(self.room_id, self.id, message)

    async def resume(self, room_id: str, token: str | None = None) -> dict[str, Any]:
        """Move to another room and join there with a resume token (its own by default)."""
        self.room_id = room_id
        await self.send({"type": "media.join", "quality": "normal", "resume": token or self.token})
        return await self.expect("media.joined")


class School:
    """A node with a lesson and a group, and the browsers in them."""

    def __init__(self, park_grace: float = 5.0) -> None:
        self.browsers: dict[str, MovingBrowser] = {}
        self.node = MediaNode(self._send, tick=0.1, park_grace=park_grace)

    async def _send(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        browser = self.browsers[peer_id]
        # a socket gets only its room's messages: the node must speak to the peer's current room
        if room_id == browser.room_id:
            browser.deliver(message)

    async def enter(self, room_id: str, peer_id: str, *, publish: bool = True) -> MovingBrowser:
        browser = self.browsers[peer_id] = MovingBrowser(self.node, room_id, peer_id)
        await self.allow(room_id, peer_id)
        await browser.join()
        if publish:
            await browser.publish({("microphone", "normal"): ToneTrack(), ("camera", "normal"): PatternTrack(160, 90)})
        return browser

    async def allow(self, room_id: str, peer_id: str) -> None:
        await self.node.set_permissions(room_id, peer_id, audio=True, video=True, screen=False)

    def peer(self, room_id: str, peer_id: str) -> Peer:
        return self.node._rooms[room_id].peers[peer_id]

    def parked(self) -> int:
        return self.node.stats()["parked"]


@pytest.fixture
async def school() -> AsyncIterator[School]:
    school = School()
    yield school
    for browser in school.browsers.values():
        await browser.close()
    await school.node.close()


async def gone_from(browser: Browser, peer: str, source: str) -> None:
    async with asyncio.timeout(5):
        while browser.mid_of(peer, source) is not None:
            await asyncio.sleep(0.02)


def isolated(peer: Peer) -> bool:
    """Nothing forwarded from or to this peer."""
    assert peer.publisher is not None and peer.subscriber is not None
    tracks = peer.publisher.tracks.values()
    return all(not t.allowed and not t.slots and not t.pending for t in tracks) and all(
        slot.track is None and slot.pending is None for slot in peer.subscriber.slots
    )


@needs_netns
@pytest.mark.asyncio
async def test_a_parked_peer_resumes_in_another_room_with_the_same_connections(school: School) -> None:
    alice = await school.enter(LESSON, "alice")
    bob = await school.enter(LESSON, "bob")
    carol = await school.enter(GROUP, "carol")
    await bob.wait_frames("alice", "camera", count=5)
    await alice.wait_frames("bob", "camera", count=5)
    first_token = alice.token
    peer = school.peer(LESSON, "alice")
    publisher, subscriber, subscribe_pc = peer.publisher, peer.subscriber, alice.subscribe_pc

    # alice's socket left the lesson: her peer is parked, forwarding nothing either way
    await school.node.leave(LESSON, "alice")
    assert school.parked() == 1 and "alice" not in school.node._rooms[LESSON].peers
    assert isolated(peer)
    await gone_from(bob, "alice", "camera")

    await school.allow(GROUP, "alice")  # what the group's room lets her publish, before her join
    joined = await alice.resume(GROUP)
    assert joined["resumed"] is True
    assert joined["resume"] not in (None, first_token)
    moved = school.peer(GROUP, "alice")
    assert moved is peer and moved.publisher is publisher and moved.subscriber is subscriber
    assert school.parked() == 0
    # carol sees and hears alice, alice carol, on the connections made in the lesson
    await carol.wait_frames("alice", "camera", count=5)
    await carol.wait_frames("alice", "microphone", count=5)
    await alice.wait_frames("carol", "camera", count=5)
    assert alice.subscribe_pc is subscribe_pc
    assert alice.mid_of("bob", "camera") is None
    assert all(message["type"] != "media.offer" for message in alice.inbox._queue)  # type: ignore[attr-defined]


@needs_netns
@pytest.mark.asyncio
async def test_permissions_come_from_the_room_moved_into(school: School) -> None:
    alice = await school.enter(LESSON, "alice")
    carol = await school.enter(GROUP, "carol")
    await school.node.leave(LESSON, "alice")
    # the group lets her publish nothing (yet): her camera stays with her
    assert (await alice.resume(GROUP))["resumed"] is True
    assert isolated(school.peer(GROUP, "alice"))
    await school.allow(GROUP, "alice")
    await carol.wait_frames("alice", "camera", count=5)


@needs_netns
@pytest.mark.asyncio
async def test_resume_before_the_room_it_left_let_go(school: School) -> None:
    """The new room's join can come before the old room's leave: the peer moves out of the room it is in."""
    alice = await school.enter(LESSON, "alice")
    bob = await school.enter(LESSON, "bob")
    carol = await school.enter(GROUP, "carol")
    await bob.wait_frames("alice", "camera", count=3)
    await school.allow(GROUP, "alice")
    assert (await alice.resume(GROUP))["resumed"] is True
    await gone_from(bob, "alice", "camera")
    # the lesson's late leave finds nobody and leaves the group's alice alone
    await school.node.leave(LESSON, "alice")
    assert school.parked() == 0
    await carol.wait_frames("alice", "camera", count=5)
    await alice.wait_frames("carol", "camera", count=5)


@needs_netns
@pytest.mark.asyncio
async def test_a_reconnected_socket_resumes_in_the_same_room(school: School) -> None:
    """A socket blip: the page joins its room again with its token, before or after the room let it go."""
    alice = await school.enter(LESSON, "alice")
    bob = await school.enter(LESSON, "bob")
    peer = school.peer(LESSON, "alice")
    # still in the room: it stays there with what it may publish
    assert (await alice.resume(LESSON))["resumed"] is True
    assert school.peer(LESSON, "alice") is peer and peer.permissions.video
    await bob.wait_frames("alice", "camera", count=5)
    # let go (parked): back in the room with nothing allowed until the application says again
    await school.node.leave(LESSON, "alice")
    await school.allow(LESSON, "alice")  # the new socket's entry, before its join
    assert (await alice.resume(LESSON))["resumed"] is True
    assert school.peer(LESSON, "alice") is peer and peer.permissions.video
    await bob.wait_frames("alice", "camera", count=5)
    await alice.wait_frames("bob", "camera", count=5)


@needs_netns
@pytest.mark.asyncio
async def test_a_token_moves_nobody_else_and_only_once(school: School) -> None:
    alice = await school.enter(LESSON, "alice")
    bob = await school.enter(LESSON, "bob", publish=False)
    alices = alice.token
    await school.node.leave(LESSON, "alice")
    # bob with alice's token, or a made-up one: an ordinary join, alice stays parked
    bob.room_id = GROUP
    for token in (alices, "not-a-token"):
        await bob.send({"type": "media.join", "resume": token})
        assert (await bob.expect("media.joined"))["resumed"] is False
        await bob.accept_offer(await bob.expect("media.offer"))
    assert school.parked() == 1
    assert "alice" not in school.node._rooms[GROUP].peers
    # alice's own token moves her once; the spent token then only joins as usual
    assert (await alice.resume(GROUP, alices))["resumed"] is True
    await school.node.leave(GROUP, "alice", park=False)
    assert (await alice.resume(LESSON, alices))["resumed"] is False
    await alice.expect("media.offer")


@needs_netns
@pytest.mark.asyncio
async def test_a_parked_peer_closes_after_its_grace() -> None:
    school = School(park_grace=0.2)
    try:
        alice = await school.enter(LESSON, "alice")
        peer = school.peer(LESSON, "alice")
        await school.node.leave(LESSON, "alice")
        assert school.parked() == 1
        async with asyncio.timeout(5):
            while peer.publisher is not None or peer.subscriber is not None:
                await asyncio.sleep(0.02)
        assert school.parked() == 0
        joined = await alice.resume(GROUP)
        assert joined["resumed"] is False
        await alice.expect("media.offer")
    finally:
        for browser in school.browsers.values():
            await browser.close()
        await school.node.close()


@needs_netns
@pytest.mark.asyncio
async def test_a_closed_group_parks_its_peers_for_the_lesson(school: School) -> None:
    teacher = await school.enter(LESSON, "teacher")
    alice = await school.enter(GROUP, "alice")
    await school.node.close_room(GROUP, park=True)
    assert school.parked() == 1
    await school.allow(LESSON, "alice")
    assert (await alice.resume(LESSON))["resumed"] is True
    await teacher.wait_frames("alice", "camera", count=5)
    await alice.wait_frames("teacher", "camera", count=5)
    # a node that stops closes what it holds, parked or not
    await school.node.leave(LESSON, "alice")
    assert school.parked() == 1
    await school.node.close()
    assert school.parked() == 0


@pytest.mark.asyncio
async def test_a_peer_without_a_negotiated_subscriber_is_not_parked() -> None:
    sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        sent.append((room_id, peer_id, message))

    node = MediaNode(send, tick=10)
    try:
        await node.handle(LESSON, "alice", {"type": "media.join"})
        token = sent[0][2]["resume"]
        assert isinstance(token, str) and len(token) >= 32
        await node.leave(LESSON, "alice")  # the offer was never answered: nothing to keep
        assert node.stats()["parked"] == 0
        await node.handle(GROUP, "alice", {"type": "media.join", "resume": token})
        joined = [m for _, _, m in sent if m["type"] == "media.joined"]
        assert joined[-1]["resumed"] is False
        assert sent[-1][2]["type"] == "media.offer"
    finally:
        await node.close()
