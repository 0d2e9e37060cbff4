"""Fixtures for the forwarder's tests: no Django, real aiortc peers in a private netns."""

from __future__ import annotations

import asyncio
import fractions
import math
import os
from array import array
from collections.abc import AsyncIterator
from typing import Any

import ifaddr
import pytest
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AUDIO_PTIME
from av import AudioFrame, VideoFrame

from media_server import MediaNode

ROOM = "room-1"


def _private_ipv4() -> bool:
    return any(
        isinstance(ip.ip, str) and not ip.ip.startswith("127.")
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
    )


# ICE ignores loopback, and test traffic must stay inside the namespace made by netns-run
needs_netns = pytest.mark.skipif(
    os.environ.get("CV_IN_NETNS") != "1" or not _private_ipv4(),
    reason="peer tests need a private network namespace with a non-loopback IPv4 address: "
    "run scripts/netns-run .venv/bin/pytest tests/media",
)


def peer_connection() -> RTCPeerConnection:
    # no STUN server: aiortc would try Google's; and aiortc's "balanced" policy leaves all but
    # the first of several video m-lines unbundled
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


class PatternTrack(VideoStreamTrack):
    """A synthetic camera of a given size whose picture changes every frame."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self.count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        self.count += 1
        frame = VideoFrame(self.width, self.height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([self.count % 256]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        return frame


class ToneTrack(MediaStreamTrack):
    """A microphone playing a loud 440 Hz tone, so that its audio level says it speaks."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        rate = 48000
        samples = int(AUDIO_PTIME * rate)
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        wave = array(
            "h",
            (int(12000 * math.sin(2 * math.pi * 440 * (i + self._pts) / rate)) for i in range(samples)),
        )
        frame = AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(wave.tobytes())
        frame.sample_rate = rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, rate)
        self._pts += samples
        return frame


def camera_layers(normal: MediaStreamTrack | None = None, screen: bool = False) -> dict[tuple[str, str], Any]:
    """A publisher's camera in two layers (320x180, unless given, and 160x90), and a screen share if asked."""
    tracks: dict[tuple[str, str], Any] = {
        ("camera", "normal"): normal or PatternTrack(320, 180),
        ("camera", "low"): PatternTrack(160, 90),
    }
    if screen:
        tracks[("screen", "normal")] = PatternTrack(320, 180)
    return tracks


class Browser:
    """A participant's two peer connections, driven through media.* messages like the room page."""

    def __init__(self, node: MediaNode, peer_id: str) -> None:
        self.node = node
        self.id = peer_id
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sources: dict[str, dict[str, Any]] = {}
        self.subscribe_pc: RTCPeerConnection | None = None
        self.publish_pc: RTCPeerConnection | None = None
        self.frames: dict[str, int] = {}
        self._readers: list[asyncio.Task[None]] = []

    def deliver(self, message: dict[str, Any]) -> None:
        if message["type"] == "media.sources":
            self.sources = {slot["mid"]: slot for slot in message["slots"]}
        self.inbox.put_nowait(message)

    async def expect(self, type_: str, timeout: float = 5) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                message = await self.inbox.get()
                if message["type"] == type_:
                    return message

    async def send(self, message: dict[str, Any]) -> None:
        await self.node.handle(ROOM, self.id, message)

    async def join(self, quality: str = "normal") -> None:
        await self.send({"type": "media.join", "quality": quality})
        await self.expect("media.joined")
        offer = await self.expect("media.offer")
        await self.accept_offer(offer)

    async def accept_offer(self, offer: dict[str, Any]) -> None:
        if self.subscribe_pc is not None:
            await self.subscribe_pc.close()
        pc = self.subscribe_pc = peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        for transceiver in pc.getTransceivers():
            self._readers.append(asyncio.ensure_future(self._read(transceiver.mid or "", transceiver.receiver.track)))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "media.answer", "pc": "subscribe", "sdp": pc.localDescription.sdp})

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        self.frames[mid] = 0
        while True:
            try:
                await track.recv()
            except Exception:
                return
            self.frames[mid] += 1

    async def publish(self, tracks: dict[tuple[str, str], MediaStreamTrack], *, ssrc_lines: bool = True) -> None:
        pc = self.publish_pc = peer_connection()
        declared = []
        pairs = []
        for (source, layer), track in tracks.items():
            pairs.append((pc.addTransceiver(track, direction="sendonly"), source, layer))
        await pc.setLocalDescription(await pc.createOffer())
        for transceiver, source, layer in pairs:
            declared.append({"mid": transceiver.mid, "source": source, "layer": layer})
        await self.send({"type": "media.offer", "pc": "publish", "sdp": pc.localDescription.sdp, "tracks": declared})
        answer = await self.expect("media.answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    def mid_of(self, peer: str, source: str) -> str | None:
        for mid, slot in self.sources.items():
            if slot["peer"] == peer and slot["source"] == source:
                return mid
        return None

    async def wait_frames(self, peer: str, source: str, count: int = 1, timeout: float = 10) -> str:
        """Wait until count more frames of a participant's source decoded here; return the mid."""
        async with asyncio.timeout(timeout):
            while (mid := self.mid_of(peer, source)) is None:
                await asyncio.sleep(0.02)
            start = self.frames.get(mid, 0)
            while self.frames.get(mid, 0) < start + count:
                await asyncio.sleep(0.02)
        return mid

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()


class Classroom:
    """A MediaNode and the browsers talking to it."""

    def __init__(self, **options: Any) -> None:
        self.browsers: dict[str, Browser] = {}
        self.node = MediaNode(self._send, **options)

    async def _send(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        assert room_id == ROOM
        self.browsers[peer_id].deliver(message)

    def browser(self, peer_id: str) -> Browser:
        browser = self.browsers[peer_id] = Browser(self.node, peer_id)
        return browser

    async def allow(self, peer_id: str, **permissions: bool) -> None:
        values = {"audio": True, "video": True, "screen": True} | permissions
        await self.node.set_permissions(ROOM, peer_id, **values)


@pytest.fixture
async def classroom() -> AsyncIterator[Classroom]:
    room = Classroom(tick=0.1)
    yield room
    for browser in room.browsers.values():
        await browser.close()
    await room.node.close_room(ROOM)
