"""One track a publisher sends: each packet parsed once, then forwarded to every slot on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..rtp import EXT_HEADER, SEQ_TS_SSRC, SILENCE, KeyframeThrottle, is_keyframe, parse_audio_level
from .native import NATIVE, _fastpath
from .slot import Kind, Packet, Slot, _py_fanout, _py_fanout_burst

clock = time.time
"""Where abs-send-time comes from (tests replace it)."""


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
