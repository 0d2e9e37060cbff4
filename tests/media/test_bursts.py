"""Bursts: the packets one socket read brought in, forwarded per track and sent per subscriber at once."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest

from media_server import forwarding

from .packets import VP8_DELTA, VP8_KEY, VP8_PT, Recorder, rtp
from .test_fastpath import SUB_PT, SUB_SSRC, Link, native_camera, stream

pytestmark = pytest.mark.skipif(forwarding.native._fastpath is None, reason="the C extension is not built")


@pytest.fixture
def link() -> Iterator[Link]:
    link = Link()
    yield link
    link.close()


def frame(sizes: list[int], first_seq: int = 1) -> list[bytes]:
    """A video frame's packets whose RTP payloads have these sizes (a keyframe first)."""
    packets = []
    for i, size in enumerate(sizes):
        head = VP8_KEY if i == 0 else VP8_DELTA
        packets.append(rtp(first_seq + i, 9000, head + bytes([i]) * (size - len(head)), marker=i == len(sizes) - 1))
    return packets


def read_burst(track: Any, packets: list[bytes]) -> None:
    """What a publisher socket's callback does with the datagrams one read brings in."""
    forwarding.bursts.collecting = True
    try:
        for packet in packets:
            track.on_rtp(packet, 0)
    finally:
        forwarding.bursts.flush()


def gso_sends() -> int:
    return forwarding.segmented_sends()[0]


def test_a_frame_is_held_during_the_read_then_sent_as_one_segmented_datagram(link: Link) -> None:
    track, slot = native_camera(link.output)
    packets = frame([1100, 1100, 1100, 400])
    before = gso_sends()
    forwarding.bursts.collecting = True
    for packet in packets:
        track.on_rtp(packet, 0)
    assert link.received() == []  # held until the read ends
    forwarding.bursts.flush()
    got = link.received()
    # the kernel cut it back into the four packets, in order, each one a valid SRTP datagram
    assert [struct.unpack_from("!H", p, 2)[0] for p in got] == [0, 1, 2, 3]
    assert [p[12:] for p in got] == [p[12:] for p in packets]
    assert gso_sends() == before + 1
    assert slot.bound and slot.packets == 4


def test_the_node_counts_segmented_sends_and_their_packets(link: Link) -> None:
    track, _ = native_camera(link.output)
    sends, packets = forwarding.segmented_sends()
    read_burst(track, frame([900] * 6))
    assert len(link.received()) == 6
    assert forwarding.segmented_sends() == (sends + 1, packets + 6)


def test_a_frame_is_segmented_on_the_ice_socket_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # without the connected socket (MEDIA_CONNECTED_SOCKETS=0, or a relayed pair) the segmented
    # datagram carries the subscriber's address
    monkeypatch.setattr(forwarding.output, "CONNECTED", False)
    link = Link()
    try:
        track, slot = native_camera(link.output)
        packets = frame([1000, 1000, 1000])
        before = gso_sends()
        read_burst(track, packets)
        assert link.output._wire is None
        assert [p[12:] for p in link.received()] == [p[12:] for p in packets]
        assert gso_sends() == before + 1
    finally:
        link.close()


def test_packets_larger_than_any_link_segments_safely_go_one_by_one(link: Link) -> None:
    # above 1,232 bytes a segment might not fit a local link's MTU: no segmentation
    track, _ = native_camera(link.output)
    packets = frame([1300, 1300, 1300])
    before = gso_sends()
    read_burst(track, packets)
    assert [p[12:] for p in link.received()] == [p[12:] for p in packets]
    assert gso_sends() == before


def test_sizes_that_cannot_share_one_segment_size_go_in_several_sends(link: Link) -> None:
    track, _ = native_camera(link.output)
    # a shorter packet first; then equal ones and a shorter last (one segmented send); then one
    # after that last: it cannot join, so it goes on its own
    packets = frame([500, 1100, 1100, 1100, 1099, 1099])
    before = gso_sends()
    read_burst(track, packets)
    got = link.received()
    assert [p[12:] for p in got] == [p[12:] for p in packets]
    assert gso_sends() == before + 1


def test_without_segmentation_the_same_packets_arrive(link: Link) -> None:
    track, _ = native_camera(link.output)
    packets = frame([1100, 1100, 1100, 400])
    before = gso_sends()
    forwarding.native._fastpath.set_gso(False)
    try:
        read_burst(track, packets)
    finally:
        forwarding.native._fastpath.set_gso(True)
    assert [p[12:] for p in link.received()] == [p[12:] for p in packets]
    assert gso_sends() == before


def test_a_burst_goes_to_every_subscriber_in_order() -> None:
    links = [Link() for _ in range(3)]
    try:
        track = forwarding.NativeTrack("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
        track.allowed = True
        for link in links:
            slot = forwarding.NativeSlot("video", SUB_SSRC, link.output)
            slot.payload_types = {"video/VP8": SUB_PT}
            slot.attach(track)
        packets = frame([1000] * 5)
        read_burst(track, packets)
        for link in links:
            assert [p[12:] for p in link.received()] == [p[12:] for p in packets]
    finally:
        for link in links:
            link.close()


@pytest.mark.parametrize("track_cls,slot_cls", [("NativeTrack", "NativeSlot"), ("PyTrack", "PySlot")])
def test_a_slot_starting_on_a_keyframe_inside_a_burst_gets_nothing_before_it(track_cls: str, slot_cls: str) -> None:
    track = getattr(forwarding, track_cls)("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    watching, joining = Recorder(), Recorder()
    slots = []
    for output in (watching, joining):
        slot = getattr(forwarding, slot_cls)("video", SUB_SSRC, output)
        slot.payload_types = {"video/VP8": SUB_PT}
        slots.append(slot)
    slots[0].attach(track)
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    slots[1].attach(track)  # waits for the next keyframe
    read_burst(track, [rtp(2, 0, VP8_DELTA), rtp(3, 0, VP8_DELTA), rtp(4, 3000, VP8_KEY), rtp(5, 3000, VP8_DELTA)])
    assert [payload[12:] for payload in watching.packets] == [VP8_KEY, VP8_DELTA, VP8_DELTA, VP8_KEY, VP8_DELTA]
    assert [payload[12:] for payload in joining.packets] == [VP8_KEY, VP8_DELTA]
    assert [seq for _, seq, _, _ in joining.headers()] == [0, 1]


@pytest.mark.parametrize("track_cls,slot_cls", [("NativeTrack", "NativeSlot"), ("PyTrack", "PySlot")])
def test_a_layer_switch_inside_a_burst_sends_the_old_layer_up_to_the_keyframe(track_cls: str, slot_cls: str) -> None:
    # the low and normal camera layers come on the same socket, so one read holds both
    low, normal = (
        getattr(forwarding, track_cls)("alice", "camera", layer, "video", {VP8_PT: "video/VP8"})
        for layer in ("low", "normal")
    )
    low.allowed = normal.allowed = True
    output = Recorder()
    slot = getattr(forwarding, slot_cls)("video", SUB_SSRC, output)
    slot.payload_types = {"video/VP8": SUB_PT}
    slot.attach(low)
    low.on_rtp(rtp(1, 0, VP8_KEY, ssrc=1), 0)
    slot.attach(normal)  # at normal's next keyframe
    forwarding.bursts.collecting = True
    try:
        low.on_rtp(rtp(2, 0, VP8_DELTA + b"low 2", ssrc=1), 0)
        low.on_rtp(rtp(3, 0, VP8_DELTA + b"low 3", ssrc=1), 0)
        normal.on_rtp(rtp(50, 0, VP8_KEY + b"normal", ssrc=2), 0)
        low.on_rtp(rtp(4, 0, VP8_DELTA + b"low 4", ssrc=1), 0)
        normal.on_rtp(rtp(51, 0, VP8_DELTA + b"normal", ssrc=2), 0)
    finally:
        forwarding.bursts.flush()
    # what packet-by-packet forwarding sends: low up to the switch, then normal from its keyframe
    assert [p[12:] for p in output.packets] == [
        VP8_KEY,
        VP8_DELTA + b"low 2",
        VP8_DELTA + b"low 3",
        VP8_KEY + b"normal",
        VP8_DELTA + b"normal",
    ]
    assert [seq for _, seq, _, _ in output.headers()] == [0, 1, 2, 3, 4]


def test_bursts_send_what_packet_by_packet_forwarding_sends() -> None:
    # the C path in bursts of up to 7 against the Python one packet by packet, on a stream with
    # reordering, wraps and keyframes, with a slot switching between two publishers
    outputs = {}
    for mode in ("bursts", "packets"):
        native = mode == "bursts"
        tracks = [
            (forwarding.NativeTrack if native else forwarding.PyTrack)(
                "alice", "camera", "normal", "video", {VP8_PT: "video/VP8"}
            )
            for _ in range(2)
        ]
        for track in tracks:
            track.allowed = True
        output = Recorder()
        slot = (forwarding.NativeSlot if native else forwarding.PySlot)("video", SUB_SSRC, output)
        slot.payload_types = {"video/VP8": SUB_PT}
        slot.attach(tracks[0])
        streams = [stream(280, 1), stream(280, 2)]
        for start in range(0, 280, 7):
            if start and start % 70 == 0:
                slot.attach(tracks[(start // 70) % 2])
            for track, packets in zip(tracks, streams, strict=True):
                if native:
                    read_burst(track, packets[start : start + 7])
                else:
                    for packet in packets[start : start + 7]:
                        track.on_rtp(packet, 0)
        outputs[mode] = output.packets
    assert len(outputs["bursts"]) > 280
    assert outputs["bursts"] == outputs["packets"]


def test_a_closed_track_forgets_what_it_held() -> None:
    track = forwarding.NativeTrack("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    output = Recorder()
    slot = forwarding.NativeSlot("video", SUB_SSRC, output)
    slot.payload_types = {"video/VP8": SUB_PT}
    slot.attach(track)
    forwarding.bursts.collecting = True
    try:
        track.on_rtp(rtp(1, 0, VP8_KEY), 0)
        track.close()
    finally:
        forwarding.bursts.flush()
    assert output.packets == []


def test_bad_input_is_refused_with_an_error() -> None:
    track, slot = native_camera(Recorder())
    with pytest.raises(TypeError):
        forwarding.native._fastpath.fanout_burst([slot], [(0x80, VP8_PT, 1, 0, "not bytes", 0, 0)])
    with pytest.raises(TypeError):
        forwarding.native._fastpath.fanout_burst([slot], [(0x80, VP8_PT, 1)])
    with pytest.raises(TypeError):
        forwarding.native._fastpath.fanout_burst(["not a slot"], [(0x80, VP8_PT, 1, 0, VP8_KEY, 0, 0)])
    assert slot.packets == 0


def test_a_track_forwarded_to_nobody_keeps_its_level_and_holds_nothing() -> None:
    # most microphones of a discussion: their loudness counts, their packets go nowhere
    mic = forwarding.NativeTrack("alice", "microphone", "normal", "audio", {111: "audio/opus"}, audio_level_id=1)
    mic.allowed = True
    forwarding.bursts.collecting = True
    try:
        for seq in range(8):
            mic.on_rtp(rtp(seq, seq * 960, b"opus", pt=111, audio_level=10), 0)
        assert forwarding.bursts.tracks == []
        assert mic.burst == []
    finally:
        forwarding.bursts.flush()
    assert mic.level < 40  # from silence (127) towards 10, smoothed
    assert mic.packets == 8
    # a listener joins: from its first packet on it gets them
    output = Recorder()
    slot = forwarding.NativeSlot("audio", SUB_SSRC, output)
    slot.payload_types = {"audio/opus": 111}
    slot.attach(mic)
    read_burst(mic, [rtp(8, 8 * 960, b"opus", pt=111, audio_level=10)])
    assert [p[12:] for p in output.packets] == [b"opus"]
