"""Build RTP packets and record what a slot sends, for the forwarder's unit tests."""

from __future__ import annotations

import struct

from media_server.forwarding import Sink

VP8_PT = 96
# VP8 payload descriptors (RFC 7741): X=1, S=1, PID=0; I=1 with a 15-bit picture id
VP8_KEY = bytes([0x90, 0x80, 0x80, 0x01, 0x10]) + b"key-frame"
VP8_DELTA = bytes([0x90, 0x80, 0x80, 0x02, 0x11]) + b"delta"
VP8_CONTINUATION = bytes([0x80, 0x80, 0x80, 0x01]) + b"rest"


def rtp(
    seq: int,
    ts: int,
    payload: bytes = VP8_DELTA,
    *,
    ssrc: int = 0x1111,
    pt: int = VP8_PT,
    marker: bool = False,
    audio_level: int | None = None,
    level_id: int = 1,
) -> bytes:
    """Return an RTP packet, with a one-byte audio-level header extension if asked."""
    ext = b""
    b0 = 0x80
    if audio_level is not None:
        b0 |= 0x10
        ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(level_id << 4) | 0, 0x80 | audio_level, 0, 0])
    return struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc) + ext + payload


class Recorder(Sink):
    """A subscriber's socket: keeps every packet sent."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def send(self, b0: int, b1: int, seq: int, ts: int, ssrc: int, payload: bytes) -> None:
        self.packets.append(struct.pack("!BBHII", b0, b1, seq, ts, ssrc) + payload)

    def send_packet(self, packet: bytes) -> None:
        self.packets.append(packet)

    def headers(self) -> list[tuple[int, int, int, int]]:
        """Return (payload type, seq, timestamp, ssrc) of each packet sent."""
        result = []
        for packet in self.packets:
            _, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", packet)
            result.append((b1 & 0x7F, seq, ts, ssrc))
        return result
