"""A room page's media engine in aiortc, driven over the real room socket (as static/js/room/media.js)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import VideoFrame

from tests.media.conftest import peer_connection
from tests.room.conftest import ConnectionClosed, Socket

WIDTH, HEIGHT = 320, 240

Tracks = dict[tuple[str, str], MediaStreamTrack]
"""(source, layer) -> the local track published for it."""


async def connected(pc: RTCPeerConnection, timeout: float = 10) -> None:
    """Wait until a connection is up (ICE and DTLS)."""
    async with asyncio.timeout(timeout):
        while pc.connectionState != "connected":
            await asyncio.sleep(0.02)


class Subscription:
    """One subscribe connection (a new one for each server offer) and what its tracks decoded."""

    def __init__(self) -> None:
        self.pc = peer_connection()
        self.video: dict[str, list[tuple[int, int]]] = {}
        self.audio: dict[str, int] = {}
        self.readers: list[asyncio.Task[None]] = []

    def read(self, mid: str, track: MediaStreamTrack) -> None:
        self.readers.append(asyncio.ensure_future(self._read(mid, track)))

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if isinstance(frame, VideoFrame):
                self.video.setdefault(mid, []).append((frame.width, frame.height))
            else:
                self.audio[mid] = self.audio.get(mid, 0) + 1

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await self.pc.close()


class MediaClient:
    """One participant's media over their room socket: media.join, a publish and a subscribe connection.

    Every event of the socket is read here (kept in `events`); server offers are answered at once
    from a new connection, as the page does. `start` is the page's `MediaEngine.start`: drop both
    connections, send media.join, then publish the local tracks (made fresh by `local`, since
    aiortc stops a track with its connection) once media.joined came.
    """

    _refs = itertools.count(1)

    def __init__(self, socket: Socket, local: Callable[[], Tracks] | None = None) -> None:
        self.socket = socket
        self.local = local
        self.events: list[dict[str, Any]] = []
        self.sources: dict[str, dict[str, Any]] = {}
        self.subscriptions: list[Subscription] = []
        self.publications: list[RTCPeerConnection] = []
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pump = asyncio.ensure_future(self._read_socket())

    # What the page does

    async def start(self) -> None:
        """Join the room's media again from scratch, publishing the local tracks if there are any."""
        await self._stop_connections()
        mark = len(self.events)
        await self.request("media.join", quality="normal")
        await self.next("media.joined", since=mark)
        if self.local is not None:
            await self._publish(self.local())

    async def move(self, socket: Socket) -> dict[str, Any]:
        """The page went on in another room on `socket` (a breakout group, and back): it keeps both
        connections and sends media.join with the last media.joined's `resume`; return the new
        media.joined (`resumed` says whether the connections moved)."""
        token = next(event["resume"] for event in reversed(self.events) if event["type"] == "media.joined")
        self._pump.cancel()
        self.socket = socket
        self.sources = {}
        self._pump = asyncio.ensure_future(self._read_socket())
        mark = len(self.events)
        await self.request("media.join", quality="normal", resume=token)
        return await self.next("media.joined", since=mark)

    async def _publish(self, tracks: Tracks) -> None:
        if self.publications:
            await self.request("media.restart", pc="publish")
        pc = peer_connection()
        self.publications.append(pc)
        pairs = [
            (pc.addTransceiver(track, direction="sendonly"), source, layer) for (source, layer), track in tracks.items()
        ]
        await pc.setLocalDescription(await pc.createOffer())
        declared = [{"mid": transceiver.mid, "source": source, "layer": layer} for transceiver, source, layer in pairs]
        mark = len(self.events)
        await self.request("media.offer", pc="publish", sdp=pc.localDescription.sdp, tracks=declared)
        answer = await self.next("media.answer", since=mark)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    async def _answer(self, subscription: Subscription, offer: dict[str, Any]) -> None:
        pc = subscription.pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        for transceiver in pc.getTransceivers():
            subscription.read(transceiver.mid or "", transceiver.receiver.track)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.request("media.answer", pc="subscribe", sdp=pc.localDescription.sdp)

    async def _stop_connections(self) -> None:
        if self.subscriptions:
            await self.subscriptions[-1].close()
        if self.publications:
            await self.publications[-1].close()
        self.sources = {}

    # The socket

    async def _read_socket(self) -> None:
        while True:
            try:
                event = await self.socket.receive(timeout=600)
            except ConnectionClosed:
                return
            self.events.append(event)
            kind = event["type"]
            reply = self._replies.pop(str(event.get("ref")), None) if kind in ("ok", "error") else None
            if reply is not None:
                reply.set_result(event)
            elif kind == "media.offer":
                # a new server-side connection each time: answer it from a new one (in a task: the
                # answer's reply comes through this very loop)
                previous = self.subscriptions[-1] if self.subscriptions else None
                subscription = Subscription()
                self.subscriptions.append(subscription)
                self.sources = {}
                self._tasks.append(asyncio.ensure_future(self._answer(subscription, event)))
                if previous is not None:
                    await previous.close()
            elif kind == "media.sources":
                self.sources = {slot["mid"]: slot for slot in event["slots"]}

    async def request(self, kind: str, /, **fields: Any) -> dict[str, Any]:
        """Send a message with a fresh ref; return its `ok` reply, fail on an `error`."""
        ref = f"m{next(self._refs)}"
        reply = self._replies[ref] = asyncio.get_running_loop().create_future()
        await self.socket.send({"type": kind, "ref": ref, **fields})
        answer = await asyncio.wait_for(reply, 10)
        assert answer["type"] == "ok", f"{kind} refused: {answer}"
        return answer

    async def next(self, kind: str, /, since: int, timeout: float = 10) -> dict[str, Any]:
        """The first event of this type received after `since` events, waiting for it if need be."""
        async with asyncio.timeout(timeout):
            while True:
                self._raise_failures()
                for event in self.events[since:]:
                    if event["type"] == kind:
                        return event
                await asyncio.sleep(0.02)

    def _raise_failures(self) -> None:
        for task in [self._pump, *self._tasks]:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError("a media negotiation failed") from task.exception()

    # What arrived

    def mid_of(self, peer: str, source: str) -> str | None:
        """The subscribe connection's transceiver that media.sources says carries a peer's source."""
        for mid, slot in self.sources.items():
            if slot["peer"] == peer and slot["source"] == source:
                return mid
        return None

    async def decoded(self, peer: str, source: str, count: int, timeout: float = 10) -> list[Any]:
        """Wait until the current subscribe connection decoded `count` frames of a peer's source; return them.

        Video frames come back as their (width, height), audio frames as 1 each.
        """
        frames: list[Any] = []
        mid: str | None = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._raise_failures()
                    mid = self.mid_of(peer, source)
                    if mid is not None and self.subscriptions:
                        subscription = self.subscriptions[-1]
                        frames = subscription.video.get(mid, [])
                        if source == "microphone":
                            frames = [1] * subscription.audio.get(mid, 0)
                        if len(frames) >= count:
                            return frames
                    await asyncio.sleep(0.02)
        except TimeoutError:
            slot = f"slot {mid}" if mid is not None else "no slot in media.sources"
            raise AssertionError(f"{len(frames)} of {count} {source} frames decoded in {timeout} s ({slot})") from None

    async def close(self) -> None:
        self._pump.cancel()
        for task in self._tasks:
            task.cancel()
        for subscription in self.subscriptions:
            await subscription.close()
        for pc in self.publications:
            await pc.close()
