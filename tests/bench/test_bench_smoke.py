"""The media benchmark's packet stamp and synthetic VP8 frames: pure functions, no network."""

from __future__ import annotations

from bench.media.packets import CAMERA, MIC, header_extension, opus_frame, read_stamp, stamp, vp8_frame
from media_server.rtp import HEADER, is_vp8_keyframe, parse_audio_level


def _packet(payload: bytes, ext: bytes = b"") -> bytes:
    return HEADER.pack(0x90 if ext else 0x80, 96, 1, 3000, 1234) + ext + payload


def test_stamp_reads_back_after_a_vp8_payload() -> None:
    payload = vp8_frame(CAMERA, 7, keyframe=False)[1]
    assert read_stamp(_packet(payload + stamp(5, 42, 123_456_789))) == (5, 42, 123_456_789)


def test_unstamped_packet_has_no_stamp() -> None:
    assert read_stamp(_packet(bytes(200))) is None


def test_keyframe_first_packet_is_a_vp8_keyframe_to_the_forwarder() -> None:
    packets = vp8_frame(CAMERA, 1, keyframe=True)
    assert is_vp8_keyframe(packets[0] + stamp(1, 1, 1))
    assert not is_vp8_keyframe(packets[1])
    assert not is_vp8_keyframe(vp8_frame(CAMERA, 2, keyframe=False)[0])


def test_camera_frame_is_a_thirtieth_of_a_megabit() -> None:
    packets = vp8_frame(CAMERA, 1, keyframe=False)
    assert sum(len(p) - 4 for p in packets) == 1_000_000 // 8 // 30
    assert all(len(p) <= 1104 for p in packets)


def test_audio_level_extension_is_read_by_the_forwarder() -> None:
    ext = header_extension(1, "0", 2, 30)
    assert parse_audio_level(_packet(opus_frame(MIC), ext), 2) == 30
