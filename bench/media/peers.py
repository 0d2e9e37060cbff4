"""Load-generator peers: real aiortc handshakes, then raw SRTP packets in and out.

A RawPublisher's transceivers carry tracks that never yield a frame, so aiortc never starts an
encoder; pre-made VP8 and Opus payloads go out through the forwarder's own SRTP fast path
(media_server.forwarding.Output). A CountingSubscriber takes each datagram of its selected ICE pair
straight from the socket, decrypts it with the DTLS-SRTP session and counts its stamp: no jitter
buffer, no depacketizer, no decoder. With the bench's C extension (`_genfast.c`, built by
setup.py) one NativeReader per process drains every subscriber socket with recvmmsg and does
that in C; without it (or with BENCH_GENERATOR_C=0) asyncio reads each datagram for Python.
A RawPublisher's frames go out through the extension too once DTLS-SRTP is up: each frame's
packets are built (header, extensions, VP8 picture ID, stamp), protected with the connection's
own libsrtp session and sent with one sendmmsg() on its ICE socket (`native_sender()`; with
BENCH_GENERATOR_SEND_C=0 each packet goes through Output.send from Python, as before).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pylibsrtp
from aiortc import MediaStreamTrack, RTCConfiguration, RTCDtlsTransport, RTCPeerConnection, RTCSessionDescription

from media_server import seam
from media_server.forwarding import Output
from media_server.seam import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPacket, RtcpPsfbPacket, get_capabilities

from .packets import (
    AUDIO_LEVEL_URI,
    MAGIC,
    MID_URI,
    STAMP,
    Profile,
    header_extension,
    opus_frame,
    stamp,
    vp8_frame,
)

try:
    from . import _genfast
except ImportError:
    _genfast = None  # type: ignore[assignment]

KEYFRAME_EVERY_S = 3.0
POLL_S = float(os.environ.get("BENCH_POLL_MS", "1")) / 1000
"""How often the generator's C reader drains its sockets; 0: whenever epoll says they are ready."""
RECEIVE_BUFFER = 1 << 20
NATIVE = _genfast is not None and os.environ.get("BENCH_GENERATOR_C", "1") != "0"
"""Whether subscribers are read in C (and the echo sends from C): the path that ran is reported."""
NATIVE_SEND = NATIVE and os.environ.get("BENCH_GENERATOR_SEND_C", "1") != "0"
"""Whether publishers' frames are built, protected and sent in C (RawPublisher; 0: in Python)."""


def libsrtp_function(name: str) -> int:
    """Return the address of a function of pylibsrtp's libsrtp, for _genfast."""
    return seam.libsrtp_address(name)


def srtp_address(session: pylibsrtp.Session) -> int:
    """Return the address of a pylibsrtp session's srtp_t, for _genfast."""
    return seam.session_address(session)


def new_pc() -> RTCPeerConnection:
    """Return a peer connection that needs no STUN: everything is on one host."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def wait_connected(pc: RTCPeerConnection, timeout: float) -> None:
    """Wait until ICE and DTLS are up, or raise TimeoutError."""
    async with asyncio.timeout(timeout):
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed"):
                raise ConnectionError(f"peer connection {pc.connectionState}")
            await asyncio.sleep(0.05)


class SilentTrack(MediaStreamTrack):
    """A sender track that never yields a frame, so aiortc never starts an encoder."""

    def __init__(self, kind: Literal["audio", "video"]) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        """Wait forever: the forwarder sends this transceiver's packets itself."""
        await self._never
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Release the waiting sender."""
        super().stop()
        if not self._never.done():
            self._never.cancel()


class NativeReader:
    """Every fast-path subscriber socket of this process, drained in C by one epoll set."""

    def __init__(self) -> None:
        self.reader = _genfast.Reader(libsrtp_function("srtp_unprotect"))
        # the protocol that handles what is not SRTP, and the session the reader decrypts with
        self._peers: list[tuple[Any, pylibsrtp.Session]] = []
        loop = asyncio.get_running_loop()
        if POLL_S > 0:
            # nobody waits on the sockets: the forwarder's sendto wakes no process up, as on a
            # real network where the subscribers are other machines
            self._poll = loop.call_later(POLL_S, self._tick)
        else:
            loop.add_reader(self.reader.fileno(), self._ready)

    def _tick(self) -> None:
        self._ready()
        self._poll = asyncio.get_running_loop().call_later(POLL_S, self._tick)

    def add(self, protocol: Any, session: pylibsrtp.Session) -> int:
        """Take an ICE socket away from asyncio; return its index in the reader."""
        transport = protocol.transport
        fd = transport.get_extra_info("socket").fileno()
        transport.pause_reading()
        index: int = self.reader.add(fd, srtp_address(session))
        self._peers.append((protocol, session))
        return index

    def _ready(self) -> None:
        # STUN consent checks, DTLS and SRTCP go to aioice as if asyncio had read them
        for index, data, addr in self.reader.drain():
            self._peers[index][0].datagram_received(data, addr)


@dataclass
class Window:
    """The steady measurement window, in CLOCK_MONOTONIC ns of the send time."""

    t0: int = 1 << 62
    t1: int = 1 << 62
    delays_us: array[int] = field(default_factory=lambda: array("q"))
    sent: dict[int, int] = field(default_factory=dict)
    native: NativeReader | None = None

    def set(self, t0: int, t1: int) -> None:
        """Set the window, in the Python and the C counters."""
        self.t0, self.t1 = t0, t1
        if self.native is not None:
            self.native.reader.set_window(t0, t1)

    def reader(self) -> NativeReader:
        """Return the process's C reader, made on first use."""
        if self.native is None:
            self.native = NativeReader()
            self.native.reader.set_window(self.t0, self.t1)
        return self.native

    def all_delays_us(self) -> array[int]:
        """Return the window's delays from both receive paths."""
        delays = array("q", self.delays_us)
        if self.native is not None:
            delays.frombytes(self.native.reader.delays())
        return delays


@dataclass
class Stream:
    """One published source: what to send and where it stands."""

    stream_id: int
    source: str
    profile: Profile
    level: int
    mid: str = ""
    ssrc: int = 0
    pt: int = 0
    ext: bytes = b""
    seq: int = 0
    timestamp: int = 0
    picture_id: int = 0
    want_keyframe: bool = True
    last_keyframe: float = 0.0
    layer: str = "normal"
    """The camera layer it is (media.offer's `tracks`)."""
    paused: bool = False
    """Not sent for now (media.camera_layers turned its layer off, as a page's encoder)."""


class RawPublisher:
    """A participant's publish connection sending pre-made packets at realistic rates."""

    def __init__(self, streams: list[Stream], window: Window) -> None:
        self.pc = new_pc()
        self.streams = streams
        self.window = window
        self._transceivers = []
        self._tasks: list[asyncio.Task[None]] = []
        # stream id -> its peer in native_sender(), once DTLS-SRTP is up; empty: Python sends
        self._native: dict[int, int] = {}
        self._keepalive: Any = None
        for s in streams:
            kind = s.profile.kind
            transceiver = self.pc.addTransceiver(SilentTrack(kind), direction="sendonly")  # type: ignore[arg-type]
            wanted = "video/VP8" if kind == "video" else "audio/opus"
            transceiver.setCodecPreferences([c for c in get_capabilities(kind).codecs if c.mimeType == wanted])
            self._transceivers.append(transceiver)

    async def offer(self) -> str:
        """Return the SDP offer, with every host candidate in it."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        for s, t in zip(self.streams, self._transceivers, strict=True):
            s.mid = t.mid or ""
            s.ssrc = seam.sender_ssrc(t.sender)
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str, timeout: float) -> None:
        """Apply the answer and wait for DTLS-SRTP."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        for s, t in zip(self.streams, self._transceivers, strict=True):
            s.pt = seam.codecs(t)[0].payloadType
            ids = {e.uri: e.id for e in seam.header_extensions(t)}
            s.ext = header_extension(ids.get(MID_URI, 0), s.mid)
            if s.profile.kind == "audio":
                s.ext = header_extension(ids.get(MID_URI, 0), s.mid, ids.get(AUDIO_LEVEL_URI, 0), s.level)
        await wait_connected(self.pc, timeout)
        dtls = self._transceivers[0].sender.transport
        self._hook_feedback(dtls)
        self.output = Output(dtls)
        target = self.output.native_target() if NATIVE_SEND else None
        if isinstance(target, tuple):
            # each frame built, protected and sent in C, one sendmmsg (the same socket, session, address)
            self._keepalive, srtp, fd, address, _pairs, _pair = target
            host, port = address if address is not None else ("", 0)
            sender = native_sender()
            for s in self.streams:
                self._native[s.stream_id] = sender.add(fd, srtp, host, port, s.ssrc, s.pt, s.stream_id, 0.0)

    def _hook_feedback(self, dtls: RTCDtlsTransport) -> None:
        by_ssrc = {s.ssrc: s for s in self.streams}

        async def handle_rtcp_data(data: bytes) -> None:
            try:
                packets = RtcpPacket.parse(data)
            except ValueError:
                return
            for packet in packets:
                if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (
                    RTCP_PSFB_PLI,
                    RTCP_PSFB_FIR,
                ):
                    # a FIR names its SSRC in the FCI; every stream of ours is a candidate
                    stream = by_ssrc.get(packet.media_ssrc)
                    for s in [stream] if stream is not None else by_ssrc.values():
                        s.want_keyframe = True
            await original(data)

        original = seam.replace_rtcp_handler(dtls, handle_rtcp_data)

    def start(self, stop_at: float) -> None:
        """Send every stream until the loop time stop_at."""
        for s in self.streams:
            self._tasks.append(asyncio.ensure_future(self._send_loop(s, stop_at)))

    async def _send_loop(self, s: Stream, stop_at: float) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / s.profile.fps
        ts_step = int((90000 if s.profile.kind == "video" else 48000) * interval)
        opus = opus_frame(s.profile) if s.profile.kind == "audio" else b""
        delta = vp8_frame(s.profile, 0, keyframe=False)
        start = loop.time()
        k = 0
        while True:
            now = loop.time()
            if now >= stop_at:
                return
            due = start + k * interval
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 0.5:
                # far behind (a stalled loop): do not burst, start the schedule again
                start, k = now, 0
            k += 1
            if s.paused:
                s.want_keyframe = True  # an encoder turned back on starts with a keyframe
            elif s.profile.kind == "audio":
                self._send(s, [opus])
            else:
                keyframe = s.want_keyframe or now - s.last_keyframe > KEYFRAME_EVERY_S
                if keyframe:
                    s.want_keyframe = False
                    s.last_keyframe = now
                    payloads = vp8_frame(s.profile, s.picture_id, keyframe=True)
                    self._send(s, payloads)
                elif s.stream_id in self._native:
                    self._send(s, delta, s.picture_id)
                else:
                    self._send(s, [_with_picture_id(p, s.picture_id) for p in delta])
                s.picture_id += 1
            s.timestamp = (s.timestamp + ts_step) & 0xFFFFFFFF

    def _send(self, s: Stream, payloads: list[bytes], picture_id: int = -1) -> None:
        """Send a frame; picture_id, when 0 or more, is written into each VP8 payload on the way."""
        window = self.window
        index = self._native.get(s.stream_id)
        if index is not None:
            b0 = 0x90 if s.ext else 0x80
            sent = native_sender().frame(index, b0, s.timestamp, s.ext, payloads, picture_id, window.t0, window.t1)
            if sent:
                window.sent[s.stream_id] = window.sent.get(s.stream_id, 0) + sent
            return
        if picture_id >= 0:
            payloads = [_with_picture_id(p, picture_id) for p in payloads]
        b0 = 0x90 if s.ext else 0x80
        last = len(payloads) - 1
        for i, payload in enumerate(payloads):
            sent_ns = time.monotonic_ns()
            s.seq = (s.seq + 1) & 0xFFFF
            body = s.ext + payload + stamp(s.stream_id, s.seq, sent_ns)
            self.output.send(b0, s.pt | (0x80 if i == last else 0), s.seq, s.timestamp, s.ssrc, body)
            if window.t0 <= sent_ns < window.t1:
                window.sent[s.stream_id] = window.sent.get(s.stream_id, 0) + 1

    async def close(self) -> None:
        """Stop sending and close the connection."""
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


_sender: Any = None


def native_sender() -> Any:
    """The process's one C sender of publishers' frames (_genfast.Sender)."""
    global _sender
    if _sender is None:
        _sender = _genfast.Sender(libsrtp_function("srtp_protect"))
    return _sender


def _with_picture_id(payload: bytes, picture_id: int) -> bytes:
    pid = 0x8000 | (picture_id & 0x7FFF)
    return payload[:2] + bytes([pid >> 8, pid & 0xFF]) + payload[4:]


class CountingSubscriber:
    """A participant's receive connection that only decrypts and counts stamped packets."""

    def __init__(self, window: Window) -> None:
        self.pc = new_pc()
        self.window = window
        self._counts: dict[int, int] = {}
        self._window_counts: dict[int, int] = {}
        self._native: list[int] = []
        self._dtls: list[RTCDtlsTransport] = []

    @property
    def counts(self) -> dict[int, int]:
        """Return the packets received so far, by stream."""
        return self._merged(self._counts, "counts")

    @property
    def window_counts(self) -> dict[int, int]:
        """Return the packets sent inside the window and received, by stream."""
        return self._merged(self._window_counts, "window_counts")

    def _merged(self, own: dict[int, int], method: str) -> dict[int, int]:
        if not self._native or self.window.native is None:
            return own
        merged = dict(own)
        for index in self._native:
            for stream, n in getattr(self.window.native.reader, method)(index).items():
                merged[stream] = merged.get(stream, 0) + n
        return merged

    async def answer(self, offer_sdp: str) -> str:
        """Apply the forwarder's offer and return a receive-only answer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        for t in self.pc.getTransceivers():
            dtls = t.receiver.transport
            if dtls not in self._dtls:
                self._dtls.append(dtls)
                seam.replace_rtp_handler(dtls, self._slow_path)
        return self.pc.localDescription.sdp

    async def connected(self, timeout: float) -> None:
        """Wait for DTLS-SRTP, then take datagrams straight from the ICE sockets."""
        await wait_connected(self.pc, timeout)
        for dtls in self._dtls:
            session = seam.rx_session(dtls)
            if session is None:
                continue
            # every local candidate's socket, not only the pair this side nominated: the
            # forwarder sends on the pair it selected, which is not always the same one
            for protocol in seam.ice_protocols(dtls):
                if protocol.transport is None or protocol.transport.is_closing():
                    continue
                # room for a burst while the process reads other sockets (a browser asks for more)
                sock = protocol.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                if NATIVE:
                    self._native.append(self.window.reader().add(protocol, session))
                else:
                    seam.replace_datagram_handler(protocol, self._fast_path(protocol.datagram_received, session))

    def count(self, plain: bytes) -> None:
        """Count one decrypted RTP packet by its stamp."""
        n = len(plain)
        if n < 32:
            return
        magic, stream, _, sent_ns = STAMP.unpack_from(plain, n - 20)
        if magic != MAGIC:
            return
        counts = self._counts
        counts[stream] = counts.get(stream, 0) + 1
        window = self.window
        if window.t0 <= sent_ns < window.t1:
            wc = self._window_counts
            wc[stream] = wc.get(stream, 0) + 1
            window.delays_us.append((time.monotonic_ns() - sent_ns) // 1000)

    async def _slow_path(self, data: bytes, arrival_time_ms: int) -> None:
        self.count(data)

    def _fast_path(
        self, original: Callable[[bytes, Any], None], srtp: pylibsrtp.Session
    ) -> Callable[[bytes, Any], None]:
        unprotect = srtp.unprotect
        count = self.count

        def datagram_received(data: bytes, addr: Any) -> None:
            if 127 < data[0] < 192 and not 191 < data[1] < 224:
                try:
                    plain = unprotect(data)
                except pylibsrtp.Error:
                    return
                count(plain)
            else:
                # STUN consent checks, DTLS and RTCP keep aiortc's own path
                original(data, addr)

        return datagram_received

    async def close(self) -> None:
        """Close the connection, its sockets out of the C reader first (their fds get reused)."""
        if self.window.native is not None:
            for index in self._native:
                self.window.native.reader.remove(index)
        await self.pc.close()
