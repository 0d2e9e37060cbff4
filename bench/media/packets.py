"""Pre-made VP8 and Opus RTP payloads, the bench stamp, and the load profiles.

Every payload ends with a 20-byte stamp (magic, stream id, sequence, monotonic send time in ns).
It sits at the end rather than right after the VP8 payload descriptor so that the first packet
of a keyframe still starts with a real VP8 key frame header, which both forwarders inspect.
CLOCK_MONOTONIC is one clock for every process of the machine, so a receiver in another process
subtracts the send time directly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = 0x43564231  # "CVB1"
STAMP = struct.Struct("!IIIQ")
STAMP_SIZE = STAMP.size
MAX_CHUNK = 1100
"""Bytes of VP8 data per packet, as browsers packetize well under a 1200-byte MTU budget."""

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
SILENT = 127


def stamp(stream: int, seq: int, sent_ns: int) -> bytes:
    """Return the stamp closing a payload."""
    return STAMP.pack(MAGIC, stream, seq, sent_ns)


def read_stamp(packet: bytes) -> tuple[int, int, int] | None:
    """Return (stream, seq, sent_ns) of an RTP packet's stamp, or None if it carries none."""
    if len(packet) < 12 + STAMP_SIZE:
        return None
    magic, stream, seq, sent_ns = STAMP.unpack_from(packet, len(packet) - STAMP_SIZE)
    if magic != MAGIC:
        return None
    return stream, seq, sent_ns


@dataclass(frozen=True)
class Profile:
    """One kind of published stream: a codec, a frame rate and a bitrate."""

    kind: str  # "audio" or "video"
    fps: float
    bitrate: int
    keyframe_factor: int = 4

    @property
    def frame_bytes(self) -> int:
        """Return the size of an ordinary frame."""
        return max(int(self.bitrate / 8 / self.fps), 40)

    def packets_per_second(self) -> float:
        """Return the steady packet rate, ignoring keyframes."""
        if self.kind == "audio":
            return self.fps
        return self.fps * -(-self.frame_bytes // MAX_CHUNK)


CAMERA = Profile("video", 30, 1_000_000)
SCREEN = Profile("video", 15, 1_000_000)
MIC = Profile("audio", 50, 32_000)
LOW_CAMERA = Profile("video", 15, 200_000)


def vp8_frame(profile: Profile, picture_id: int, keyframe: bool) -> list[bytes]:
    """Return a frame's packet payloads (without stamps): descriptor, then VP8 data."""
    size = profile.frame_bytes * (profile.keyframe_factor if keyframe else 1)
    chunks = [min(MAX_CHUNK, size - i) for i in range(0, size, MAX_CHUNK)]
    pid = 0x8000 | (picture_id & 0x7FFF)
    payloads = []
    for i, chunk in enumerate(chunks):
        # X=1 with a 15-bit PictureID, as browsers send; S=1 on the frame's first packet
        descriptor = bytes([0x90 if i == 0 else 0x80, 0x80, pid >> 8, pid & 0xFF])
        if i == 0:
            # frame tag with P=0 on a key frame, then the key frame start code and 640x360
            tag = bytes([0x10 if keyframe else 0x11, 0x02, 0x00])
            header = tag + (b"\x9d\x01\x2a\x80\x02\x68\x01" if keyframe else b"")
            body = header + bytes(max(chunk - len(header), 0))
        else:
            body = bytes(chunk)
        payloads.append(descriptor + body)
    return payloads


def opus_frame(profile: Profile) -> bytes:
    """Return one 20 ms Opus payload (without stamp): a TOC byte and opaque data."""
    return b"\x78" + bytes(max(profile.frame_bytes - 1 - STAMP_SIZE, 1))


def header_extension(mid_id: int, mid: str, level_id: int = 0, level: int = SILENT) -> bytes:
    """Return a one-byte-form RTP header extension block with the MID and the audio level."""
    elements = b""
    if mid_id and mid:
        raw = mid.encode()
        elements += bytes([(mid_id << 4) | (len(raw) - 1)]) + raw
    if level_id:
        vad = 0x80 if level < SILENT else 0
        elements += bytes([level_id << 4, vad | level])
    if not elements:
        return b""
    elements += bytes(-len(elements) % 4)
    return struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements
