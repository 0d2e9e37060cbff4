"""Keyframe detection, audio levels, keyframe-request throttling: payload bytes only."""

from __future__ import annotations

import random
import struct
from types import SimpleNamespace

import pytest
from aiortc.rtcrtpreceiver import NackGenerator

from media_server.rtp import (
    KeyframeThrottle,
    RetransmissionBuffer,
    find_extension,
    is_h264_keyframe,
    is_vp8_keyframe,
    parse_audio_level,
)
from media_server.seam import add_to_nack_generator

from .packets import VP8_CONTINUATION, VP8_DELTA, VP8_KEY, rtp


def test_vp8_keyframe_start_is_detected() -> None:
    assert is_vp8_keyframe(VP8_KEY)
    # without the extension byte nor picture id
    assert is_vp8_keyframe(bytes([0x10, 0x00]))


def test_vp8_delta_and_continuation_are_not_keyframes() -> None:
    assert not is_vp8_keyframe(VP8_DELTA)
    assert not is_vp8_keyframe(VP8_CONTINUATION)
    assert not is_vp8_keyframe(b"")


def test_vp8_descriptor_with_tl0picidx_and_tid_is_skipped() -> None:
    # X, S; I (7-bit id), L, T; then the frame header with P=0
    assert is_vp8_keyframe(bytes([0x90, 0xE0, 0x05, 0x01, 0x20, 0x10]))
    assert not is_vp8_keyframe(bytes([0x90, 0xE0, 0x05, 0x01, 0x20, 0x11]))


def test_h264_idr_and_sps_are_keyframes() -> None:
    assert is_h264_keyframe(bytes([0x65, 0x88]))  # IDR slice
    assert is_h264_keyframe(bytes([0x67, 0x42]))  # SPS


def test_h264_stap_a_with_sps_is_a_keyframe() -> None:
    sps = bytes([0x67, 0x42, 0x00])
    pps = bytes([0x68, 0xCE])
    stap = bytes([0x78]) + struct.pack("!H", len(sps)) + sps + struct.pack("!H", len(pps)) + pps
    assert is_h264_keyframe(stap)
    only_pps = bytes([0x78]) + struct.pack("!H", len(pps)) + pps
    assert not is_h264_keyframe(only_pps)


def test_h264_fu_a_start_of_idr_is_a_keyframe() -> None:
    assert is_h264_keyframe(bytes([0x7C, 0x85, 0x00]))  # FU-A, start bit, IDR
    assert not is_h264_keyframe(bytes([0x7C, 0x05, 0x00]))  # middle fragment
    assert not is_h264_keyframe(bytes([0x7C, 0x81, 0x00]))  # start of a non-IDR slice


def test_h264_non_idr_slice_is_not_a_keyframe() -> None:
    assert not is_h264_keyframe(bytes([0x41, 0x9A]))


def test_audio_level_is_read_from_the_one_byte_extension() -> None:
    assert parse_audio_level(rtp(1, 0, b"x", audio_level=42, level_id=3), 3) == 42


def test_audio_level_is_read_from_the_two_byte_extension() -> None:
    ext = struct.pack("!HH", 0x1000, 1) + bytes([5, 1, 0x80 | 17, 0])
    packet = struct.pack("!BBHII", 0x90, 111, 1, 0, 1) + ext + b"x"
    assert parse_audio_level(packet, 5) == 17


def test_extension_values_are_found_by_id() -> None:
    ext = struct.pack("!HH", 0xBEDE, 2) + bytes([0x10, 0x80 | 9, 0x30, ord("1"), 0, 0, 0, 0])
    packet = struct.pack("!BBHII", 0x90, 96, 1, 0, 1) + ext + b"x"
    assert find_extension(packet, 3) == b"1"
    assert find_extension(packet, 1) == bytes([0x89])
    assert find_extension(packet, 4) is None


def test_audio_level_without_the_extension_is_silence() -> None:
    assert parse_audio_level(rtp(1, 0, b"x"), 1) == 127
    assert parse_audio_level(rtp(1, 0, b"x", audio_level=42, level_id=3), 4) == 127


def test_keyframe_requests_are_throttled_to_one_per_interval() -> None:
    throttle = KeyframeThrottle(0.5)
    assert throttle.request(10.0) == 0.0
    # a second request inside the interval is deferred to its end, once
    assert throttle.request(10.1) == pytest.approx(0.4)
    assert throttle.request(10.2) is None
    throttle.fire_deferred(10.5)
    assert throttle.request(10.6) == pytest.approx(0.4)
    assert throttle.request(11.2) == 0.0


def test_retransmission_buffer_keeps_the_last_packets_by_sequence_number() -> None:
    buffer = RetransmissionBuffer(4)
    for seq in range(65534, 65536):
        buffer.store(0x80, 96, seq, 1, bytes([seq & 0xFF]))
    for seq in range(0, 3):
        buffer.store(0x80, 96, seq, 1, bytes([seq]))
    assert buffer.get(65534, 2) is None  # overwritten by seq 2
    packet = buffer.get(65535, 2)
    assert packet is not None and struct.unpack_from("!H", packet, 2)[0] == 65535
    assert buffer.get(2, 2) == struct.pack("!BBHII", 0x80, 96, 2, 1, 2) + b"\2"
    assert buffer.get(3, 2) is None


def test_nack_generator_shortcut_keeps_aiortc_state() -> None:
    rng = random.Random(7)
    theirs, ours = NackGenerator(), NackGenerator()
    seq = 65000
    for _ in range(5000):
        # mostly in order, with losses, reordering and wrap-around
        roll = rng.random()
        seq = (seq + (rng.randint(2, 40) if roll < 0.03 else rng.randint(-30, -1) if roll < 0.06 else 1)) & 0xFFFF
        packet = SimpleNamespace(sequence_number=seq)
        assert add_to_nack_generator(ours, packet) == theirs.add(packet)  # type: ignore[arg-type]
        assert (ours.max_seq, ours.missing) == (theirs.max_seq, theirs.missing)
