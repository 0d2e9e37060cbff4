"""A subscriber's sending transceivers: each forwards one track at a time, rewritten.

A slot writes its own 12-byte header (SSRC, sequence number, timestamp, payload type) in front
of the shared payload and hands it to its Output. NativeSlot does it in C (`_fastpath.SlotCore`),
PySlot in Python: the fallback, and the reference the tests hold the C code to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ..rtp import ABS_SEND_TIME_EXT, RetransmissionBuffer, Rewriter
from .native import NATIVE, _fastpath
from .output import Output, Sink

if TYPE_CHECKING:
    from .track import Track

Kind = Literal["audio", "video"]


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


def _discard(items: list[Any], item: Any) -> None:
    try:
        items.remove(item)
    except ValueError:
        pass
