"""Who speaks: the forwarder turns the audio levels it reads into speaking ids, reported on change."""

from __future__ import annotations

import asyncio
import time

import pytest

from media_server.policy import SPEAKING_HOLD_S, PeerState, RoomState, choose, speaking_ids

from .conftest import ROOM, Classroom, ToneTrack, needs_netns

SPEAKING, SILENT = 10, 127


def test_speaking_ids_are_those_who_spoke_within_the_hold_sorted() -> None:
    last_spoke = {"zoe": 99.5, "ana": 100.0, "ben": 100.0 - SPEAKING_HOLD_S - 0.1, "chloe": 0.0}
    assert speaking_ids(last_spoke, 100.2) == ("ana", "zoe")
    assert speaking_ids(last_spoke, 200.0) == ()


def test_a_peer_that_never_spoke_is_not_speaking_even_at_the_start_of_the_clock() -> None:
    assert speaking_ids({"ana": 0.0}, 0.5) == ()


def test_the_tick_chooses_the_speaking_peers_from_their_levels() -> None:
    peers = {
        "ana": PeerState("ana", {("microphone", "normal"): "a"}, level=SPEAKING),
        "ben": PeerState("ben", {("microphone", "normal"): "b"}, level=SILENT),
        "chloe": PeerState("chloe", {}, level=None, last_spoke=49.8),
    }
    choice = choose(RoomState(peers), 50.0, loudest=3, last_n=6)
    assert choice.speaking == ("ana", "chloe")


@needs_netns
@pytest.mark.asyncio
async def test_a_real_microphone_is_reported_speaking_then_silent_once_it_leaves() -> None:
    reports: list[tuple[str, list[str]]] = []

    async def on_speaking(room_id: str, ids: list[str]) -> None:
        reports.append((room_id, ids))

    classroom = Classroom(tick=0.1, on_speaking=on_speaking)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    try:
        await classroom.allow("alice")
        await alice.publish({("microphone", "normal"): ToneTrack()})
        await bob.join()
        async with asyncio.timeout(10):
            while (ROOM, ["alice"]) not in reports:
                await asyncio.sleep(0.05)
        # reported when it changes, not on every tick
        await asyncio.sleep(0.5)
        assert reports.count((ROOM, ["alice"])) == 1
        await classroom.node.leave(ROOM, "alice")
        async with asyncio.timeout(10):
            while reports[-1] != (ROOM, []):
                await asyncio.sleep(0.05)
    finally:
        for browser in classroom.browsers.values():
            await browser.close()
        await classroom.node.close_room(ROOM)


@pytest.mark.asyncio
async def test_the_bus_carries_speaking_events_to_the_application() -> None:
    from media_server.bus import BusClient, Event

    delivered: list[Event] = []

    async def on_event(event: Event) -> None:
        delivered.append(event)

    client = BusClient(None)  # type: ignore[arg-type]  # _deliver reads no Redis
    entry = f"{int(time.time() * 1000)}-0"
    fields = {b"kind": b"speaking", b"room": ROOM.encode(), b"peer": b"", b"body": b'{"ids": ["7"]}'}
    await client._deliver(entry, fields, on_event)
    await client._deliver(entry, {**fields, b"kind": b"gossip"}, on_event)
    assert delivered == [Event("speaking", ROOM, "", {"ids": ["7"]})]
