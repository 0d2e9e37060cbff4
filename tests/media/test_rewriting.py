"""RTP rewriting per subscriber: SSRC, sequence numbers, timestamps, payload types."""

from __future__ import annotations

import sys

import pytest

from media_server import forwarding
from media_server.forwarding import Slot, Track

from .packets import VP8_DELTA, VP8_KEY, VP8_PT, Recorder, rtp


@pytest.fixture(autouse=True, params=["c", "python"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test here on the C slots (what the forwarder uses) and on the Python ones."""
    module = sys.modules[__name__]
    if request.param == "c":
        assert forwarding.native._fastpath is not None, "media_server/_fastpath.c is not built: run make install"
        monkeypatch.setattr(module, "Slot", forwarding.NativeSlot)
        monkeypatch.setattr(module, "Track", forwarding.NativeTrack)
    else:
        monkeypatch.setattr(module, "Slot", forwarding.PySlot)
        monkeypatch.setattr(module, "Track", forwarding.PyTrack)
    return str(request.param)


SUB_PT = 120
SUB_SSRC = 0xABCDEF01


def camera(peer: str = "alice", layer: str = "normal") -> Track:
    track = Track(peer, "camera", layer, "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    return track


def slot_on(track: Track) -> tuple[Slot, Recorder]:
    recorder = Recorder()
    slot = Slot("video", SUB_SSRC, recorder)
    slot.payload_types = {"video/VP8": SUB_PT}
    slot.attach(track)
    return slot, recorder


def test_it_waits_for_a_keyframe_then_rewrites_ssrc_and_payload_type() -> None:
    track = camera()
    _, sent = slot_on(track)
    track.on_rtp(rtp(100, 5000, VP8_DELTA), 0)
    track.on_rtp(rtp(101, 5000, VP8_KEY), 0)
    track.on_rtp(rtp(102, 8000, VP8_DELTA, marker=True), 33)
    assert [(pt, ssrc) for pt, _, _, ssrc in sent.headers()] == [(SUB_PT, SUB_SSRC)] * 2
    assert sent.packets[1][1] & 0x80  # marker kept
    assert sent.packets[0].endswith(VP8_KEY)


def test_it_drops_header_extensions_and_keeps_the_payload() -> None:
    track = camera()
    _, sent = slot_on(track)
    track.on_rtp(rtp(1, 0, VP8_KEY, audio_level=30), 0)
    assert sent.packets[0][0] == 0x80
    assert sent.packets[0][12:] == VP8_KEY


def test_it_drops_contributing_sources_and_keeps_the_payload() -> None:
    track = camera()
    _, sent = slot_on(track)
    plain = rtp(1, 0, VP8_KEY, audio_level=30)
    # two CSRCs (CC = 2) between the fixed header and the header extension
    track.on_rtp(bytes([plain[0] | 2]) + plain[1:12] + b"\0\0\0\1\0\0\0\2" + plain[12:], 0)
    assert sent.packets[0][0] == 0x80
    assert sent.packets[0][12:] == VP8_KEY


def test_seq_and_timestamp_continue_across_a_source_switch() -> None:
    first, second = camera("alice"), camera("bob")
    slot, sent = slot_on(first)
    for i in range(3):
        first.on_rtp(rtp(1000 + i, 90000 + 3000 * i, VP8_KEY if i == 0 else VP8_DELTA), 33 * i)
    slot.attach(second)
    # the old source goes on until the new one sends a keyframe
    first.on_rtp(rtp(1003, 99000, VP8_DELTA), 100)
    second.on_rtp(rtp(50, 7, VP8_DELTA, ssrc=0x2222), 120)
    second.on_rtp(rtp(51, 3007, VP8_KEY, ssrc=0x2222), 133)
    first.on_rtp(rtp(1004, 102000, VP8_DELTA), 134)
    second.on_rtp(rtp(52, 6007, VP8_DELTA, ssrc=0x2222), 166)
    seqs = [seq for _, seq, _, _ in sent.headers()]
    stamps = [ts for _, _, ts, _ in sent.headers()]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2, 3, 4, 5]
    # 33 ms after the last packet of the old source, at 90 kHz
    assert (stamps[4] - stamps[3]) & 0xFFFFFFFF == 33 * 90
    assert (stamps[5] - stamps[4]) & 0xFFFFFFFF == 3000
    assert slot.track is second


def test_seq_wraps_around_two_to_the_sixteen() -> None:
    track = camera()
    _, sent = slot_on(track)
    for i, seq in enumerate([0xFFFE, 0xFFFF, 0, 1]):
        track.on_rtp(rtp(seq, 0, VP8_KEY if i == 0 else VP8_DELTA), 0)
    seqs = [seq for _, seq, _, _ in sent.headers()]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2, 3]


def test_timestamp_wraps_around_two_to_the_thirty_two() -> None:
    track = camera()
    slot, sent = slot_on(track)
    slot.last_ts = 0xFFFFFFFF - 1000  # the output is near the end of its range
    track.on_rtp(rtp(7, 0xFFFFF000, VP8_KEY), 0)
    track.on_rtp(rtp(8, 0x00000BB8, VP8_DELTA), 33)  # the input wrapped too
    stamps = [ts for _, _, ts, _ in sent.headers()]
    assert (stamps[1] - stamps[0]) & 0xFFFFFFFF == 0x1000 + 0xBB8
    assert stamps[1] < stamps[0]  # the output wrapped


def test_packets_sent_before_a_switch_are_not_forwarded_after_it() -> None:
    track = camera()
    _, sent = slot_on(track)
    track.on_rtp(rtp(500, 0, VP8_KEY), 0)
    track.on_rtp(rtp(499, 0, VP8_DELTA), 1)  # a late retransmission of the previous frame
    assert len(sent.packets) == 1


def test_a_disallowed_track_stops_at_once() -> None:
    track = camera()
    _, sent = slot_on(track)
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    track.allowed = False
    track.on_rtp(rtp(2, 0, VP8_DELTA), 1)
    assert len(sent.packets) == 1


def test_detached_slot_sends_nothing() -> None:
    track = camera()
    slot, sent = slot_on(track)
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    slot.detach()
    track.on_rtp(rtp(2, 0, VP8_KEY), 1)
    assert len(sent.packets) == 1


def test_nack_is_answered_from_the_retransmission_buffer() -> None:
    track = camera()
    slot, sent = slot_on(track)
    for i in range(5):
        track.on_rtp(rtp(10 + i, 0, VP8_KEY if i == 0 else VP8_DELTA), i)
    lost = sent.packets[2]
    slot.retransmit(sent.headers()[2][1])
    assert sent.packets[-1] == lost


def test_nack_for_a_forgotten_packet_sends_nothing() -> None:
    track = camera()
    slot, sent = slot_on(track)
    track.on_rtp(rtp(10, 0, VP8_KEY), 0)
    first = sent.headers()[0][1]
    for i in range(1, slot.history_size + 1):
        track.on_rtp(rtp(10 + i, 0, VP8_DELTA), i)
    count = len(sent.packets)
    slot.retransmit(first)
    assert len(sent.packets) == count


def test_audio_switches_without_waiting() -> None:
    mic = Track("alice", "microphone", "normal", "audio", {111: "audio/opus"}, audio_level_id=1)
    mic.allowed = True
    sent = Recorder()
    slot = Slot("audio", 5, sent)
    slot.payload_types = {"audio/opus": 100}
    slot.attach(mic)
    mic.on_rtp(rtp(1, 960, b"opus", pt=111, audio_level=40), 0)
    assert sent.headers() == [(100, 0, 0, 5)]
    assert mic.level < 127


@pytest.mark.parametrize("pt", [97, 98])
def test_unknown_payload_type_is_not_forwarded(pt: int) -> None:
    track = camera()
    _, sent = slot_on(track)
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    track.on_rtp(rtp(2, 0, VP8_DELTA, pt=pt), 0)
    assert len(sent.packets) == 1


def test_audio_keeps_nothing_for_retransmission_video_does_until_detached() -> None:
    mic = Track("alice", "microphone", "normal", "audio", {111: "audio/opus"})
    mic.allowed = True
    audio = Slot("audio", 5, Recorder())
    audio.payload_types = {"audio/opus": 100}
    audio.attach(mic)
    payload = b"opus" * 20
    mic.on_rtp(rtp(1, 960, payload, pt=111), 0)
    # Opus is offered without NACK: nothing is kept, nor the payload held
    assert audio.history_size == 0 and audio.history_get(0) is None
    track = camera()
    video, _ = slot_on(track)
    track.on_rtp(rtp(7, 0, VP8_KEY), 0)
    assert video.history_size == 512
    assert video.history_get(0) == rtp(0, 0, VP8_KEY, ssrc=SUB_SSRC, pt=SUB_PT)
    # an idle slot lets go of the payloads it kept
    video.detach()
    assert video.history_get(0) is None
    # and keeps packets again when it forwards again, the output numbering going on
    video.attach(track)
    track.on_rtp(rtp(8, 3000, VP8_KEY), 40)
    assert video.history_get(1) == rtp(1, video.last_ts, VP8_KEY, ssrc=SUB_SSRC, pt=SUB_PT)
