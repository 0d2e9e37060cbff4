"""Byte-level RTP helpers: header fields, keyframes, audio level, feedback throttling."""

from __future__ import annotations

import struct

HEADER = struct.Struct("!BBHII")
SEQ_TS_SSRC = struct.Struct("!HII")
EXT_HEADER = struct.Struct("!HH")
# a one-byte-header extension block with one abs-send-time element (RFC 8285), 8 bytes
ABS_SEND_TIME_EXT = struct.Struct("!HHBHB")
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

VP8 = "video/VP8"
H264 = "video/H264"

SILENCE = 127
"""RFC 6464 level of digital silence, in -dBov."""


def find_extension(data: bytes, ext_id: int) -> bytes | None:
    """Return the value of a header extension (RFC 8285, one- or two-byte form), if present."""
    if not data[0] & 0x10 or not ext_id:
        return None
    start = 12 + 4 * (data[0] & 0x0F)
    profile, words = EXT_HEADER.unpack_from(data, start)
    pos = start + 4
    end = pos + 4 * words
    if profile == 0xBEDE:
        while pos < end:
            byte = data[pos]
            if byte == 0:
                pos += 1
                continue
            x_id = byte >> 4
            length = (byte & 0x0F) + 1
            if x_id == 15:
                return None
            if x_id == ext_id:
                return data[pos + 1 : pos + 1 + length]
            pos += 1 + length
    elif profile & 0xFFF0 == 0x1000:
        while pos + 1 < end:
            x_id = data[pos]
            if x_id == 0:
                pos += 1
                continue
            length = data[pos + 1]
            if x_id == ext_id:
                return data[pos + 2 : pos + 2 + length]
            pos += 2 + length
    return None


def parse_audio_level(data: bytes, ext_id: int) -> int:
    """Return the RFC 6464 level (0 loudest, 127 silence) carried by an RTP packet."""
    value = find_extension(data, ext_id)
    return value[0] & 0x7F if value else SILENCE


def is_vp8_keyframe(payload: bytes) -> bool:
    """Return whether a VP8 RTP payload starts a keyframe (RFC 7741)."""
    if len(payload) < 2:
        return False
    first = payload[0]
    # S bit set and partition index 0: this packet starts the frame
    if not first & 0x10 or first & 0x07:
        return False
    pos = 1
    if first & 0x80:
        ext = payload[pos]
        pos += 1
        if ext & 0x80:
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:
            pos += 1
        if ext & 0x30:
            pos += 1
    # P bit of the VP8 frame header is 0 for a keyframe
    return pos < len(payload) and not payload[pos] & 0x01


def is_h264_keyframe(payload: bytes) -> bool:
    """Return whether an H264 RTP payload starts a keyframe (SPS or IDR, RFC 6184)."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal == 28 and len(payload) > 1:
        fu = payload[1]
        return bool(fu & 0x80) and fu & 0x1F in (5, 7)
    return False


def is_keyframe(mime_type: str, payload: bytes) -> bool:
    """Return whether a payload of the given codec starts a keyframe."""
    if mime_type == VP8:
        return is_vp8_keyframe(payload)
    if mime_type == H264:
        return is_h264_keyframe(payload)
    return False


class KeyframeThrottle:
    """Let at most one keyframe request reach a publisher per interval."""

    __slots__ = ("_deferred", "_next_at", "interval")

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._next_at = 0.0
        self._deferred = False

    def request(self, now: float) -> float | None:
        """Return 0 to send now, a delay to send later, or None when one is already due."""
        if now >= self._next_at:
            self._next_at = now + self.interval
            return 0.0
        if self._deferred:
            return None
        self._deferred = True
        return self._next_at - now

    def fire_deferred(self, now: float) -> None:
        """Record that the deferred request was sent."""
        self._deferred = False
        self._next_at = now + self.interval


class Rewriter:
    """Map one input stream after another onto a continuous output stream.

    Subclasses rewrite packets inline with seq_offset/ts_offset: the per-packet path makes no
    method call or tuple for it.
    """

    __slots__ = (
        "clock_rate",
        "last_ms",
        "last_seq",
        "last_ts",
        "seq_offset",
        "start_seq",
        "started",
        "ts_offset",
    )

    def __init__(self, clock_rate: int, first_seq: int = 0, first_ts: int = 0) -> None:
        self.clock_rate = clock_rate
        self.seq_offset = 0
        self.ts_offset = 0
        self.start_seq = 0
        # the output before the first packet: the first one gets these plus one
        self.last_seq = (first_seq - 1) & 0xFFFF
        self.last_ts = first_ts
        self.last_ms = -1
        self.started = False

    def switch(self, seq: int, ts: int, arrival_ms: int) -> None:
        """Continue the output from the input packet (seq, ts) arriving now."""
        if self.started:
            elapsed = max(arrival_ms - self.last_ms, 1)
            step = max(elapsed * self.clock_rate // 1000, 1)
        else:
            step = 0
        self.seq_offset = (self.last_seq + 1 - seq) & 0xFFFF
        self.ts_offset = (self.last_ts + step - ts) & 0xFFFFFFFF
        self.start_seq = seq
        self.started = True


class RetransmissionBuffer:
    """Keep the last rewritten packets of a stream, indexed by output sequence number.

    Each entry is the header's variable fields and a reference to the payload that every
    subscriber of the packet shares: storing costs three list writes, no copy.
    """

    __slots__ = ("flags", "mask", "payloads", "seqs", "size", "stamps")

    def __init__(self, size: int = 512) -> None:
        assert size & (size - 1) == 0, "size must be a power of two"
        self.size = size
        self.mask = size - 1
        self.payloads: list[bytes | None] = [None] * size
        self.seqs = [-1] * size
        self.stamps = [0] * size
        # first two header bytes: version, padding, marker, payload type
        self.flags = [0] * size

    def store(self, b0: int, b1: int, seq: int, ts: int, payload: bytes) -> None:
        """Keep a rewritten packet."""
        i = seq & self.mask
        self.payloads[i] = payload
        self.seqs[i] = seq
        self.stamps[i] = ts
        self.flags[i] = b0 << 8 | b1

    def get(self, seq: int, ssrc: int) -> bytes | None:
        """Return the whole rewritten packet with this sequence number, if still kept."""
        i = seq & self.mask
        payload = self.payloads[i]
        if self.seqs[i] != seq or payload is None:
            return None
        flags = self.flags[i]
        return HEADER.pack(flags >> 8, flags & 0xFF, seq, self.stamps[i], ssrc) + payload

    def clear(self) -> None:
        """Forget every packet."""
        self.payloads = [None] * self.size
        self.seqs = [-1] * self.size
