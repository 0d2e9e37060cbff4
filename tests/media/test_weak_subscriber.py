"""A subscriber whose REMB says its link is weak gets the low camera layer, then the normal one again."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci
from av import VideoFrame

from media_server import forwarding
from media_server.forwarding import Slot
from media_server.policy import Adaptation

from .conftest import ROOM, Browser, Classroom, PatternTrack, ToneTrack, camera_layers, needs_netns

pytestmark = [needs_netns, pytest.mark.asyncio]

# short waits, so that the test does not last; the logic is the one of the defaults
# the video never pauses here: the low layer's own tests need it to stay
QUICK = Adaptation(down_after_s=0.5, up_after_s=1.0, pause_after_s=600.0)
QUICK_PAUSE = Adaptation(down_after_s=0.5, up_after_s=1.0, pause_after_s=0.5)


class NoiseTrack(PatternTrack):
    """A camera of random pixels: its encoded bitrate is far above the small layer's."""

    async def recv(self) -> VideoFrame:
        frame = await super().recv()
        for plane in frame.planes:
            plane.update(os.urandom(plane.buffer_size))
        return frame


@pytest.fixture
async def weak_room() -> AsyncIterator[Classroom]:
    room = Classroom(tick=0.1, adaptation=QUICK)
    yield room
    for browser in room.browsers.values():
        await browser.close()
    await room.node.close_room(ROOM)


def camera_slot(room: Classroom, viewer: str, publisher: str) -> Slot:
    subscriber = room.node._rooms[ROOM].peers[viewer].subscriber
    assert subscriber is not None
    return next(slot for slot in subscriber.slots if slot.key == (publisher, "camera"))


def receiver_of(browser: Browser, mid: str) -> RTCRtpReceiver:
    assert browser.subscribe_pc is not None
    return next(t.receiver for t in browser.subscribe_pc.getTransceivers() if t.mid == mid)


async def send_remb(receiver: RTCRtpReceiver, bitrate: int) -> None:
    """Send REMBs through the browser's subscribe connection, as a browser does (a few a second).

    The first says 20 Mbit/s, so that a lower bitrate after it is a drop: how a browser reports
    an overuse, the only time a REMB is a ceiling.
    """
    ssrc = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
    media = list(receiver._RTCRtpReceiver__remote_streams)  # type: ignore[attr-defined]
    value = 20_000_000
    while True:
        packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=ssrc, media_ssrc=0, fci=pack_remb_fci(value, media))
        await receiver._send_rtcp(packet)
        value = bitrate
        await asyncio.sleep(0.2)  # a browser's pace of estimates, not a wait


async def frame_of_size(track: MediaStreamTrack, size: tuple[int, int]) -> None:
    async with asyncio.timeout(10):
        while True:
            frame = await track.recv()
            if (frame.width, frame.height) == size:
                return


@contextlib.asynccontextmanager
async def rembs(receiver: RTCRtpReceiver, bitrate: int) -> AsyncIterator[None]:
    task = asyncio.ensure_future(send_remb(receiver, bitrate))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def quality_events(browser: Browser) -> list[dict[str, Any]]:
    events = []
    while not browser.inbox.empty():
        message = browser.inbox.get_nowait()
        if message["type"] == "media.quality":
            events.append(message)
    return events


async def test_weak_remb_lowers_the_camera_and_a_strong_one_brings_it_back(weak_room: Classroom) -> None:
    alice, bob = weak_room.browser("alice"), weak_room.browser("bob")
    await weak_room.allow("alice")
    await alice.publish(camera_layers(NoiseTrack(320, 180), screen=True))
    await bob.join()
    mid = await bob.wait_frames("alice", "camera", count=5)
    await bob.wait_frames("alice", "screen", count=5)
    receiver = receiver_of(bob, mid)
    await frame_of_size(receiver.track, (320, 180))
    assert camera_slot(weak_room, "bob", "alice").track.layer == "normal"  # type: ignore[union-attr]
    if forwarding.NATIVE and forwarding.output.CONNECTED:
        # the C path sends on a socket connected to bob, so his RTCP (the REMBs below) arrives
        # on that socket: adapting to them proves it reaches ICE's protocol from there
        output = weak_room.node._rooms[ROOM].peers["bob"].subscriber.output  # type: ignore[union-attr]
        wire = output._wire
        assert wire is not None and wire.getpeername() == output._pair.remote_addr
    # receiver reports without loss, and no REMB: nothing to adapt to
    assert quality_events(bob) == []

    async with rembs(receiver, 1_000):
        message = await bob.expect("media.quality", timeout=10)
        assert message == {"type": "media.quality", "requested": "normal", "effective": "low", "reason": "bandwidth"}
        await frame_of_size(receiver.track, (160, 90))
        slot = camera_slot(weak_room, "bob", "alice")
        assert slot.track is not None and slot.track.layer == "low"
        # the screen share is the lesson: it keeps its own (only) layer
        await bob.wait_frames("alice", "screen", count=5)

    async with rembs(receiver, 50_000_000):
        message = await bob.expect("media.quality", timeout=10)
        assert message == {"type": "media.quality", "requested": "normal", "effective": "normal", "reason": None}
        await frame_of_size(receiver.track, (320, 180))
        slot = camera_slot(weak_room, "bob", "alice")
        assert slot.track is not None and slot.track.layer == "normal"


async def test_an_explicit_low_choice_is_never_raised_by_a_strong_link(weak_room: Classroom) -> None:
    alice, bob = weak_room.browser("alice"), weak_room.browser("bob")
    await weak_room.allow("alice")
    await alice.publish(camera_layers(NoiseTrack(320, 180)))
    await bob.join(quality="low")
    mid = await bob.wait_frames("alice", "camera", count=5)
    receiver = receiver_of(bob, mid)
    async with rembs(receiver, 50_000_000):
        # twice the time it takes to go back up, counted in frames received at the low size
        for _ in range(2):
            await frame_of_size(receiver.track, (160, 90))
            await bob.wait_frames("alice", "camera", count=int(30 * QUICK.up_after_s))
        slot = camera_slot(weak_room, "bob", "alice")
        assert slot.track is not None and slot.track.layer == "low"
    assert quality_events(bob) == []


async def test_choosing_low_while_lowered_clears_the_notice(weak_room: Classroom) -> None:
    alice, bob = weak_room.browser("alice"), weak_room.browser("bob")
    await weak_room.allow("alice")
    await alice.publish(camera_layers(NoiseTrack(320, 180)))
    await bob.join()
    mid = await bob.wait_frames("alice", "camera", count=5)
    receiver = receiver_of(bob, mid)
    async with rembs(receiver, 1_000):
        await bob.expect("media.quality", timeout=10)
        await bob.send({"type": "media.quality", "quality": "low"})
        message = await bob.expect("media.quality", timeout=10)
    assert message == {"type": "media.quality", "requested": "low", "effective": "low", "reason": None}


async def test_a_link_too_weak_for_the_low_cameras_gets_the_sound_only_then_the_video_again() -> None:
    room = Classroom(tick=0.1, adaptation=QUICK_PAUSE)
    try:
        alice, bob = room.browser("alice"), room.browser("bob")
        await room.allow("alice")
        await alice.publish({("microphone", "normal"): ToneTrack(), **camera_layers(NoiseTrack(320, 180), screen=True)})
        await bob.join()
        mid = await bob.wait_frames("alice", "camera", count=5)
        await bob.wait_frames("alice", "screen", count=5)
        await bob.wait_frames("alice", "microphone", count=5)
        receiver = receiver_of(bob, mid)
        # only the REMBs below speak for bob's link: aiortc's own, from what arrives, would read as
        # drops from them (overuses) and hold the estimate down on the way back
        assert bob.subscribe_pc is not None
        for transceiver in bob.subscribe_pc.getTransceivers():
            transceiver.receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]

        async with rembs(receiver, 1_000):
            lowered = await bob.expect("media.quality", timeout=10)
            assert lowered["effective"] == "low"
            paused = await bob.expect("media.quality", timeout=10)
            assert paused == {
                "type": "media.quality",
                "requested": "normal",
                "effective": "audio",
                "reason": "bandwidth",
            }
            # no camera and no screen any more, the sound goes on
            async with asyncio.timeout(5):
                while bob.mid_of("alice", "camera") or bob.mid_of("alice", "screen"):
                    await asyncio.sleep(0.05)
            subscriber = room.node._rooms[ROOM].peers["bob"].subscriber
            assert subscriber is not None
            assert all(slot.track is None and slot.pending is None for slot in subscriber.video_slots)
            await bob.wait_frames("alice", "microphone", count=10)

        async with rembs(receiver, 50_000_000):
            # back one step at a time: the low cameras (and the screen), then the normal ones
            message = await bob.expect("media.quality", timeout=10)
            assert message["effective"] == "low"
            await bob.wait_frames("alice", "camera", count=5)
            await bob.wait_frames("alice", "screen", count=5)
            message = await bob.expect("media.quality", timeout=10)
            assert message == {"type": "media.quality", "requested": "normal", "effective": "normal", "reason": None}
            async with asyncio.timeout(10):
                while (slot := camera_slot(room, "bob", "alice")).track is None or slot.track.layer != "normal":
                    await asyncio.sleep(0.05)
            await bob.wait_frames("alice", "camera", count=5)
    finally:
        for browser in room.browsers.values():
            await browser.close()
        await room.node.close_room(ROOM)
