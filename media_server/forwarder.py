"""The per-packet path: published tracks, subscriber slots and the SRTP send.

An incoming packet is parsed once per publisher track; each subscriber slot then writes its own
12-byte header (SSRC, sequence number, timestamp, payload type) and the shared payload into one
buffer, protects it with the subscriber's SRTP session and hands it to the UDP socket. No decoder,
no encoder, no RTP object.

The loop over a track's slots runs in C (`_fastpath.c`, built by setup.py) when the extension is
there: NativeSlot keeps the rewriting state in C and fanout() forwards to every slot without
entering the interpreter. PySlot is the same logic in Python: the fallback when the extension is
not built or MEDIA_FORWARDER_C=0, and the reference the tests hold the C code to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from aiortc import MediaStreamTrack, RTCDtlsTransport

from . import seam
from .rtp import (
    ABS_SEND_TIME_EXT,
    EXT_HEADER,
    HEADER,
    SEQ_TS_SSRC,
    SILENCE,
    KeyframeThrottle,
    RetransmissionBuffer,
    Rewriter,
    is_keyframe,
    parse_audio_level,
)
from .seam import CandidatePair

try:
    from . import _fastpath
except ImportError:  # not built: the pure-Python path below does the same work, slower
    _fastpath = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

Kind = Literal["audio", "video"]

# the SRTP session buffer is 1500 bytes and protection adds up to 16 (SRTP_MAX_TRAILER_LEN)
MAX_PLAIN = seam.SESSION_BUFFER - 16
srtp_protect = seam.srtp_protect

READ_SIZE = 65536
"""What a socket read asks for: any UDP datagram, as asyncio's own reads (never truncated)."""

clock = time.time
"""Where abs-send-time comes from (tests replace it)."""

NATIVE = _fastpath is not None and os.environ.get("MEDIA_FORWARDER_C", "1") != "0"
"""Whether slots forward through the C extension."""

CONNECTED = os.environ.get("MEDIA_CONNECTED_SOCKETS", "1") != "0"
"""Whether the C path sends on a socket connected to each subscriber (see Wire)."""

if _fastpath is not None and os.environ.get("MEDIA_SEGMENTED_SENDS", "1") == "0":
    # one datagram per system call, as before bursts were sent as one segmented datagram
    _fastpath.set_gso(False)


class Wire(socket.socket):
    """A UDP socket connected to one subscriber, on the same address and port as its ICE socket.

    send() on a connected socket skips the route lookup that every sendto() to an address pays
    (about 1 µs of the 5-6 the kernel takes per datagram). Both sockets allow address reuse, and
    the kernel gives a datagram to the socket that matches it best: those from the subscriber's
    address now come here, and are handed to ICE's protocol as if its socket had read them;
    those from anywhere else (a new path, another candidate) still reach the ICE socket.

    A slot bound to it keeps it open (a descriptor number is never reused under a slot); it is
    closed when the last reference goes.
    """

    def __init__(self, ice: Any, remote: tuple[Any, ...], protocol: asyncio.DatagramProtocol) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(ice.family, socket.SOCK_DGRAM)
        try:
            # both sockets must allow it; on the ICE socket it only matters to this bind
            ice.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.setblocking(False)
            self.bind(ice.getsockname())
            self.connect(remote)
        except OSError:
            self.close()
            raise
        self.protocol = protocol
        self.loop = loop
        self.loop.add_reader(self.fileno(), self._read)

    def _read(self) -> None:
        for _ in range(64):
            try:
                data, addr = self.recvfrom(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # an ICMP error (port unreachable) reported on a connected socket: keep reading
                continue
            self.protocol.datagram_received(data, addr)

    def stop(self) -> None:
        """Stop reading: ICE's socket takes the subscriber's datagrams again once this closes."""
        if self.fileno() >= 0:
            self.loop.remove_reader(self.fileno())

    def __del__(self) -> None:
        if getattr(self, "_closed", True):  # closed, or never opened
            return
        with contextlib.suppress(Exception):
            self.stop()
        self.close()


if _fastpath is not None:
    # the C module calls libsrtp on the sessions' srtp_t: it binds to pylibsrtp's copy, checked
    seam.bind_fastpath(_fastpath)
else:
    logger.warning("media_server/_fastpath.c is not built (make install): forwarding with the Python loop")


def segmented_sends() -> tuple[int, int]:
    """Return the segmented datagrams this process sent and the packets they carried (see Bursts)."""
    if _fastpath is None:
        return 0, 0
    _, sends, packets = _fastpath.gso_state()
    return sends, packets


class Output:
    """Protect and send rewritten RTP to one subscriber, bypassing aiortc's coroutine chain."""

    __slots__ = (
        "_addr",
        "_wire",
        "_buffer",
        "_cdata",
        "_length",
        "_nominated",
        "_pair",
        "_sendto",
        "_fileno",
        "_session",
        "_srtp",
        "_view",
        "dtls",
    )

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        self._pair: CandidatePair | None = None
        self._nominated: dict[int, CandidatePair] = seam.nominated_pairs(dtls)
        self._srtp: Any = None
        self._cdata: Any = None
        self._buffer: Any = None
        self._view = memoryview(b"")
        self._length: Any = seam.new_length()
        self._sendto: Callable[..., Any] | None = None
        self._addr: tuple[str, int] = ("", 0)
        self._session: Any = None
        self._fileno: Callable[[], int] | None = None
        self._wire: Wire | None = None

    def _resolve(self, pair: CandidatePair | None) -> bool:
        """Cache the SRTP session and the UDP socket of the selected candidate pair."""
        self._pair = None
        session = seam.tx_session(self.dtls)
        if pair is None or session is None:
            return False
        transport = pair.protocol.transport
        if transport is None:
            return False
        # the socket itself: asyncio's DatagramTransport.sendto costs about a microsecond more,
        # and a full send buffer only drops this datagram, as the network would
        sock = transport.get_extra_info("socket")
        raw = seam.raw_socket(transport)
        self._session = session
        # the C path only needs the descriptor: asyncio's and uvloop's socket wrappers both give it
        self._fileno = getattr(sock, "fileno", None)
        self._srtp, self._cdata, self._buffer = seam.session_parts(session)
        # slicing a memoryview hands the protected packet to sendto without copying it
        self._view = memoryview(self._buffer)
        self._sendto = raw.sendto if raw is not None else transport.sendto
        self._addr = pair.remote_addr
        self._pair = pair
        self._rewire(sock, pair)
        return True

    def _rewire(self, sock: Any, pair: CandidatePair) -> None:
        """Connect a Wire to the pair's remote address for the C path, where the socket allows."""
        self.close()
        if not (CONNECTED and NATIVE) or sock is None:
            return
        local = getattr(pair, "local_candidate", None)
        if local is not None and local.type != "host":
            # a relayed candidate's socket talks to the TURN server, not to the subscriber
            return
        try:
            self._wire = Wire(sock, pair.remote_addr, pair.protocol)
        except (OSError, AttributeError, TypeError, RuntimeError) as exc:
            # a socket wrapper without these methods, an address the kernel refuses: sendto()
            logger.debug("no connected socket to %s: %s", pair.remote_addr, exc)

    def close(self) -> None:
        """Hand the subscriber's datagrams back to ICE's socket (slots still bound keep the Wire)."""
        if self._wire is not None:
            self._wire.stop()
            self._wire = None

    def native_target(
        self,
    ) -> tuple[Any, int, int, tuple[str, int] | None, dict[int, CandidatePair], CandidatePair] | bool | None:
        """Tell NativeSlot where to send: (keepalive, srtp_t address, socket fd, address, pairs, pair).

        The keepalive owns the srtp_t and the descriptor; the address is None for a Wire.

        None while DTLS-SRTP is not up (the packet is dropped, as send() would); False when only
        Python can send (a transport without a socket), so the slot calls send() from then on.
        """
        pair = self._nominated.get(1)
        if pair is not self._pair and not self._resolve(pair):
            return None
        if pair is None or self._fileno is None:
            return False
        fd = self._fileno()
        if fd < 0:
            return None
        address = seam.srtp_address(self._srtp)
        wire = self._wire
        if wire is not None and wire.fileno() >= 0:
            return (self._session, wire), address, wire.fileno(), None, self._nominated, pair
        return self._session, address, fd, self._addr, self._nominated, pair

    @property
    def ready(self) -> bool:
        """Whether DTLS-SRTP is up, so that a keyframe sent now is not lost."""
        pair = self._nominated.get(1)
        if pair is not None and pair is self._pair:
            return True
        return self._resolve(pair)

    def send(self, b0: int, b1: int, seq: int, ts: int, ssrc: int, payload: bytes) -> None:
        """Send one RTP packet made of a fresh header and a payload."""
        pair = self._nominated.get(1)
        if pair is not self._pair and not self._resolve(pair):
            return
        n = 12 + len(payload)
        if n > MAX_PLAIN:
            return
        buf = self._buffer
        HEADER.pack_into(buf, 0, b0, b1, seq, ts, ssrc)
        buf[12:n] = payload
        length = self._length
        length[0] = n
        if srtp_protect(self._srtp, self._cdata, length):
            return
        try:
            self._sendto(self._view[: length[0]], self._addr)  # type: ignore[misc]
        except OSError:
            return

    def send_packet(self, packet: bytes) -> None:
        """Send one whole RTP packet, a retransmission."""
        pair = self._nominated.get(1)
        if pair is not self._pair and not self._resolve(pair):
            return
        n = len(packet)
        if n > MAX_PLAIN:
            return
        buf = self._buffer
        buf[0:n] = packet
        length = self._length
        length[0] = n
        if srtp_protect(self._srtp, self._cdata, length):
            return
        try:
            self._sendto(self._view[: length[0]], self._addr)  # type: ignore[misc]
        except OSError:
            return


class Sink:
    """What a slot sends through: an Output, or a recorder in tests."""

    def send(self, b0: int, b1: int, seq: int, ts: int, ssrc: int, payload: bytes) -> None:
        """Send one RTP packet made of a fresh header and a payload."""
        raise NotImplementedError

    def send_packet(self, packet: bytes) -> None:
        """Send one whole RTP packet."""
        raise NotImplementedError


class SlotLogic:
    """What both slot implementations do outside the per-packet path."""

    if not TYPE_CHECKING:  # mypy would refuse the attributes below, which the subclasses' slots hold
        __slots__ = ()

    # provided by PySlot or NativeSlot
    kind: Kind
    ssrc: int
    output: Output | Sink | None
    payload_types: dict[str, int]
    pt_map: dict[int, int]
    track: Track | None
    pending: Track | None
    packets: int

    if TYPE_CHECKING:

        def switch(self, seq: int, ts: int, arrival_ms: int) -> None: ...

        def history_get(self, seq: int) -> bytes | None: ...

        def history_clear(self) -> None: ...

    def _setup(self, kind: Kind, ssrc: int, output: Output | Sink | None, mid: str) -> None:
        """What both implementations' constructors set."""
        Rewriter.__init__(self, 90000 if kind == "video" else 48000)  # type: ignore[arg-type]
        self.kind = kind
        self.ssrc = ssrc
        self.mid = mid
        self.output = output
        # negotiated with the subscriber: mime type -> payload type
        self.payload_types = {}
        self.track = None
        self.pending = None
        # the (peer, source) this slot is assigned to by the room's policy
        self.key: tuple[str, str] | None = None

    def start(self, track: Track, seq: int, ts: int, arrival_ms: int) -> None:
        """Leave the current track and forward this one from packet (seq, ts) on."""
        if self.track is not None and self.track is not track:
            _discard(self.track.slots, self)
        self.track = track
        self.pending = None
        track.slots.append(self)  # type: ignore[arg-type]
        self.pt_map = {
            pub_pt: self.payload_types[mime] for pub_pt, mime in track.mime_types.items() if mime in self.payload_types
        }
        self.switch(seq, ts, arrival_ms)

    def attach(self, track: Track) -> None:
        """Switch to a track at its next keyframe, forwarding the current one until then."""
        if self.pending is not None:
            _discard(self.pending.pending, self)
            self.pending = None
        if self.track is track:
            return
        self.pending = track
        track.pending.append(self)  # type: ignore[arg-type]
        track.request_keyframe()

    def detach(self) -> None:
        """Stop forwarding at once; an idle slot keeps no packets (nor their payloads) for NACKs."""
        if self.track is not None:
            _discard(self.track.slots, self)
            self.track = None
        if self.pending is not None:
            _discard(self.pending.pending, self)
            self.pending = None
        self.history_clear()

    def retransmit(self, seq: int, allow: Callable[[int], bool] | None = None) -> int:
        """Answer a NACK from the retransmission buffer; return the bytes sent (0: none).

        allow(size), when given, may refuse it (a retransmission budget).
        """
        packet = self.history_get(seq)
        if packet is None or self.output is None or (allow is not None and not allow(len(packet))):
            return 0
        self.output.send_packet(packet)
        return len(packet)

    def request_keyframe(self) -> None:
        """Pass a subscriber's PLI or FIR on to the publisher, throttled."""
        if self.track is not None:
            self.track.request_keyframe()


class PySlot(SlotLogic, Rewriter):
    """One sending transceiver of a subscriber: forwards one track at a time (pure Python)."""

    __slots__ = (
        "abs_send_time_id",
        "history",
        "key",
        "kind",
        "mid",
        "output",
        "packets",
        "payload_types",
        "pending",
        "pt_map",
        "ssrc",
        "track",
    )

    def __init__(self, kind: Kind, ssrc: int, output: Output | Sink | None = None, mid: str = "") -> None:
        self._setup(kind, ssrc, output, mid)
        # browsers NACK video only (Opus is offered without nack feedback): audio keeps nothing
        self.history: RetransmissionBuffer | None = RetransmissionBuffer() if kind == "video" else None
        # publisher payload type -> subscriber payload type, for the current track
        self.pt_map: dict[int, int] = {}
        self.packets = 0
        # negotiated id of the abs-send-time header extension (1-14), 0 when not sent
        self.abs_send_time_id = 0

    switch = Rewriter.switch

    @property
    def history_size(self) -> int:
        """Packets kept for retransmission."""
        return self.history.size if self.history is not None else 0

    def history_get(self, seq: int) -> bytes | None:
        """Return the whole rewritten packet with this output sequence number, if still kept."""
        return self.history.get(seq, self.ssrc) if self.history is not None else None

    def history_clear(self) -> None:
        """Forget every kept packet."""
        if self.history is not None:
            self.history = RetransmissionBuffer(self.history.size)

    def forward(self, b0: int, b1: int, seq: int, ts: int, payload: bytes, arrival_ms: int, send_time: int) -> None:
        """Rewrite and send one packet of the current track."""
        pt = self.pt_map.get(b1 & 0x7F)
        output = self.output
        if pt is None or output is None:
            return
        d = (seq - self.start_seq) & 0xFFFF
        if d >= 0x8000:
            # sent before the switch to this track: its output number belongs to the old one
            return
        if d > 0x4000:
            self.start_seq = (seq - 0x2000) & 0xFFFF
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        if (out_seq - self.last_seq) & 0xFFFF < 0x8000:
            self.last_seq = out_seq
            self.last_ts = out_ts
            self.last_ms = arrival_ms
        b1 = (b1 & 0x80) | pt
        # the retransmission buffer, inline: four list writes
        history = self.history
        if history is not None:
            i = out_seq & history.mask
            history.payloads[i] = payload
            history.seqs[i] = out_seq
            history.stamps[i] = out_ts
            history.flags[i] = b0 << 8 | b1
        if self.abs_send_time_id:
            ext = ABS_SEND_TIME_EXT.pack(0xBEDE, 1, self.abs_send_time_id << 4 | 2, send_time >> 8, send_time & 0xFF)
            output.send(b0 | 0x10, b1, out_seq, out_ts, self.ssrc, ext + payload)
        else:
            output.send(b0, b1, out_seq, out_ts, self.ssrc, payload)
        self.packets += 1


def _py_fanout(
    slots: list[Any], b0: int, b1: int, seq: int, ts: int, payload: bytes, arrival_ms: int, send_time: int
) -> None:
    for slot in slots:
        slot.forward(b0, b1, seq, ts, payload, arrival_ms, send_time)


Packet = tuple[int, int, int, int, bytes, int, int]
"""One packet as fanout() takes it: b0, b1, seq, ts, payload, arrival_ms, send_time."""


def _py_fanout_burst(slots: list[Any], packets: list[Packet]) -> None:
    for packet in packets:
        _py_fanout(slots, *packet)


class Bursts:
    """The tracks holding packets while a publisher socket's read is under way.

    A read brings in what is queued on the socket: a video frame comes as several packets. While
    it runs (`collecting`), tracks keep their packets instead of forwarding each at once; at its
    end flush() forwards each track's packets slot after slot, so that a subscriber gets them in
    one system call (the C path sends them as one segmented datagram). Nothing waits for packets
    not yet arrived: the read only takes what is already there.
    """

    __slots__ = ("collecting", "tracks")

    def __init__(self) -> None:
        self.collecting = False
        self.tracks: list[Track] = []

    def flush(self) -> None:
        """Forward every track's held packets and stop collecting."""
        self.collecting = False
        self.forward_held()

    def forward_held(self) -> None:
        """Forward every track's held packets, still collecting."""
        tracks = self.tracks
        while tracks:
            tracks.pop().flush()


bursts = Bursts()
"""The one event loop's bursts (the per-packet path runs on one loop per process)."""


if _fastpath is not None:

    class NativeSlot(SlotLogic, _fastpath.SlotCore):
        """PySlot's state and per-packet path in C (`_fastpath.SlotCore`); the rest is shared."""

        __slots__ = ("clock_rate", "key", "kind", "mid", "payload_types", "pending", "started", "track")

        def __init__(self, kind: Kind, ssrc: int, output: Output | Sink | None = None, mid: str = "") -> None:
            self._setup(kind, ssrc, output, mid)
            # browsers NACK video only (Opus is offered without nack feedback): audio keeps nothing
            self.keep_history = kind == "video"

        switch = Rewriter.switch

        def forward(self, b0: int, b1: int, seq: int, ts: int, payload: bytes, arrival_ms: int, send_time: int) -> None:
            """Rewrite and send one packet of the current track."""
            _fastpath.fanout([self], b0, b1, seq, ts, payload, arrival_ms, send_time)


if TYPE_CHECKING:
    Slot = PySlot
elif NATIVE:
    Slot = NativeSlot
else:
    Slot = PySlot


class Track:
    """One track a publisher sends: a microphone, a camera layer or a screen."""

    # forwards one packet to every slot: _fastpath.fanout with NativeSlots, _py_fanout with PySlots
    fanout = staticmethod(_fastpath.fanout if NATIVE else _py_fanout)
    # forwards several, slot after slot
    fanout_burst = staticmethod(_fastpath.fanout_burst if NATIVE else _py_fanout_burst)

    __slots__ = (
        "_deferred",
        "allowed",
        "audio_level_id",
        "burst",
        "kind",
        "last_rx_ms",
        "layer",
        "level",
        "mime_types",
        "packets",
        "peer_id",
        "pending",
        "send_pli",
        "slots",
        "source",
        "ssrc",
        "throttle",
    )

    def __init__(
        self,
        peer_id: str,
        source: str,
        layer: str,
        kind: Kind,
        mime_types: dict[int, str],
        audio_level_id: int = 0,
        send_pli: Callable[[], None] | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.source = source
        self.layer = layer
        self.kind = kind
        self.ssrc = 0
        # publisher payload type -> mime type, e.g. {96: "video/VP8"}
        self.mime_types = mime_types
        self.audio_level_id = audio_level_id
        self.allowed = False
        self.slots: list[Slot] = []
        self.pending: list[Slot] = []
        self.level = SILENCE
        self.last_rx_ms = -1_000_000
        self.packets = 0
        self.throttle = KeyframeThrottle()
        self.send_pli = send_pli
        self._deferred: asyncio.TimerHandle | None = None
        # packets held while bursts.collecting
        self.burst: list[Packet] = []

    def on_rtp(self, data: bytes, arrival_ms: int) -> None:
        """Forward one incoming RTP packet to every slot on this track."""
        self.last_rx_ms = arrival_ms
        self.packets += 1
        if not self.allowed:
            return
        b0 = data[0]
        if b0 & 0x10 and self.audio_level_id:
            # smoothed over about four packets (80 ms of audio)
            self.level = (3 * self.level + parse_audio_level(data, self.audio_level_id)) >> 2
        if not self.slots and not self.pending:
            # forwarded to nobody (most microphones and cameras of a discussion): only the level
            return
        b1 = data[1]
        seq, ts, _ = SEQ_TS_SSRC.unpack_from(data, 2)
        offset = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:
            offset += 4 + 4 * EXT_HEADER.unpack_from(data, offset)[1]
        payload = data[offset:]
        # the header extensions and CSRCs are dropped: they were negotiated with the publisher
        b0 = 0x80 | (b0 & 0x20)
        if self.pending and (self.kind == "audio" or is_keyframe(self.mime_types.get(b1 & 0x7F, ""), payload)):
            # the slots switching here get what they were forwarding before this packet first:
            # the held packets of the track they leave (another layer of this publisher's camera)
            bursts.forward_held()
            for slot in self.pending:
                slot.start(self, seq, ts, arrival_ms)
            self.pending.clear()
        # abs-send-time (24-bit 6.18 seconds), for subscribers' bandwidth estimation
        send_time = int(clock() * 262144) & 0xFFFFFF
        if bursts.collecting:
            if not self.burst:
                bursts.tracks.append(self)
            self.burst.append((b0, b1, seq, ts, payload, arrival_ms, send_time))
        else:
            self.fanout(self.slots, b0, b1, seq, ts, payload, arrival_ms, send_time)

    def flush(self) -> None:
        """Forward the packets held during a read."""
        burst = self.burst
        if burst:
            self.burst = []
            self.fanout_burst(self.slots, burst)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per throttle interval."""
        if self.kind != "video" or self.send_pli is None:
            return
        delay = self.throttle.request(time.monotonic())
        if delay is None:
            return
        if delay == 0.0:
            self.send_pli()
            return
        self._deferred = asyncio.get_running_loop().call_later(delay, self._send_deferred)

    def _send_deferred(self) -> None:
        self._deferred = None
        self.throttle.fire_deferred(time.monotonic())
        if self.send_pli is not None:
            self.send_pli()

    def close(self) -> None:
        """Stop every slot forwarding this track."""
        self.burst = []
        for slot in list(self.slots) + list(self.pending):
            slot.detach()
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None


class SilentTrack(MediaStreamTrack):
    """A sender track that never yields a frame, so aiortc never starts an encoder."""

    def __init__(self, kind: Kind) -> None:
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


class PyTrack(Track):
    """A track whose slots are PySlots, whatever NATIVE says (tests compare both paths)."""

    __slots__ = ()
    fanout = staticmethod(_py_fanout)
    fanout_burst = staticmethod(_py_fanout_burst)


if _fastpath is not None:

    class NativeTrack(Track):
        """A track whose slots are NativeSlots."""

        __slots__ = ()
        fanout = staticmethod(_fastpath.fanout)
        fanout_burst = staticmethod(_fastpath.fanout_burst)


def _discard(items: list[Any], item: Any) -> None:
    try:
        items.remove(item)
    except ValueError:
        pass
