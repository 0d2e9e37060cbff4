"""The C receive path (_fastpath.Receiver) against the Python one, on real SRTP and sockets."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcrtpreceiver import StreamStatistics
from pylibsrtp import Policy, Session

from media_server import forwarding, publisher, seam

from .conftest import ROOM, Classroom, PatternTrack, needs_netns
from .packets import VP8_DELTA, VP8_KEY, VP8_PT, Recorder, rtp

pytestmark = pytest.mark.skipif(forwarding.native._fastpath is None, reason="media_server/_fastpath.c is not built")

KEY = bytes(range(44))  # AES-256-GCM: 32-byte key and 12-byte salt
PROFILE = Policy.SRTP_PROFILE_AEAD_AES_256_GCM
SUB_PT = 100
OPUS_PT = 111


def session(direction: int) -> Session:
    return Session(Policy(key=KEY, ssrc_type=direction, srtp_profile=PROFILE))


class Feedback:
    """What the C path asks when packets stop coming in order: records it, like a NackGenerator."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def nack(self, seq: int, max_seq: int) -> tuple[int, bool]:
        self.asked.append((seq, max_seq))
        return seq, False


class Publisher:
    """One publish transport as the C path sees it: an SRTP session, a socket, a track per SSRC."""

    def __init__(self, tracks: dict[int, forwarding.Track]) -> None:
        self.tracks = tracks
        self.feedback = Feedback()
        self.tx = session(Policy.SSRC_ANY_OUTBOUND)
        self.dtls = SimpleNamespace(_rx_srtp=session(Policy.SSRC_ANY_INBOUND))
        self.to_aioice: list[tuple[bytes, Any]] = []
        self.groups: list[tuple[int, int, int, int]] = []
        self.native = forwarding.native._fastpath.Receiver(
            route=self.route,
            bind=lambda: seam.rx_target(self.dtls),  # type: ignore[arg-type]
            remb=lambda *group: self.groups.append(group),
            ntp_offset_ms=0,
            abs_send_time_id=0,
        )
        self.ice = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ice.bind(("127.0.0.1", 0))
        self.ice.setblocking(False)
        self.browser = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.browser.bind(("127.0.0.1", 0))

    def route(self, data: bytes, arrival_ms: int) -> None:
        ssrc = int.from_bytes(data[8:12], "big")
        track = self.tracks.get(ssrc)
        if track is not None:
            clock = 90000 if track.kind == "video" else 48000
            self.native.add_stream(ssrc, track, self.feedback, clock, track.kind == "video", True, track.audio_level_id)

    def protect(self, packet: bytes) -> bytes:
        protected: bytes = self.tx.protect(packet)
        return protected

    def receive(self, datagrams: list[bytes]) -> None:
        """Send these to the socket; asyncio would read the first and hand it over: the rest is drained."""
        for data in datagrams[1:]:
            self.browser.sendto(data, self.ice.getsockname())
        time.sleep(0.05)
        self.native.receive(self.ice.fileno(), self.aioice, datagrams[0], self.browser.getsockname())

    def aioice(self, data: bytes, addr: Any) -> None:
        self.to_aioice.append((data, addr))

    def close(self) -> None:
        self.ice.close()
        self.browser.close()


def camera(track_class: type[forwarding.Track]) -> tuple[forwarding.Track, Recorder]:
    track = track_class("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    output = Recorder()
    slot_class = forwarding.NativeSlot if track_class is forwarding.NativeTrack else forwarding.PySlot
    slot = slot_class("video", 0x5000, output)
    slot.payload_types = {"video/VP8": SUB_PT}
    slot.attach(track)
    return track, output


@pytest.fixture
def alice() -> Iterator[Publisher]:
    track, _ = camera(forwarding.NativeTrack)
    sender = Publisher({0x1111: track})
    yield sender
    sender.close()


def stream() -> list[bytes]:
    """A keyframe, then delta frames of two packets, one lost (seq 6)."""
    packets = [rtp(1, 0, VP8_KEY)]
    for seq in (2, 3, 4, 5, 7, 8):
        packets.append(rtp(seq, 3000 * (seq // 2), VP8_DELTA, marker=seq % 2 == 1))
    return packets


def test_the_c_receive_path_is_used_when_the_extension_is_built() -> None:
    assert forwarding.NATIVE_RECEIVE
    assert publisher.NATIVE_RECEIVE


def test_c_forwards_what_python_forwards() -> None:
    native_track, native_out = camera(forwarding.NativeTrack)
    sender = Publisher({0x1111: native_track})
    try:
        sender.receive([sender.protect(p) for p in stream()])
    finally:
        sender.close()
    python_track, python_out = camera(forwarding.PyTrack)
    for packet in stream():
        python_track.on_rtp(packet, 0)
    assert len(native_out.packets) == len(stream())
    assert native_out.packets == python_out.packets
    assert native_track.packets == len(stream())
    # only the keyframe that switched the slot went through Python (besides the new SSRC)
    assert sender.native.packets == len(stream())
    assert sender.native.to_python <= 3


def test_statistics_are_aiortcs(alice: Publisher) -> None:
    alice.receive([alice.protect(p) for p in stream()])
    reference = StreamStatistics(90000)
    for packet in stream():
        reference.add(SimpleNamespace(sequence_number=int.from_bytes(packet[2:4], "big"), timestamp=0))  # type: ignore[arg-type]
    base_seq, max_seq, cycles, received, _, size = alice.native.stream_stats(0x1111)
    assert (base_seq, max_seq, cycles, received) == (
        reference.base_seq,
        reference.max_seq,
        reference.cycles,
        reference.packets_received,
    )
    assert size == sum(len(p) for p in stream())
    copy = StreamStatistics(90000)
    seam.load_statistics(copy, base_seq, max_seq, cycles, received, 0)
    assert copy.packets_lost == reference.packets_lost == 1


def test_a_gap_asks_python_for_a_nack_and_in_order_packets_do_not(alice: Publisher) -> None:
    alice.receive([alice.protect(p) for p in stream()])
    # 1 to 5 in order: nothing asked; 7 after 5: the generator hears of it, with C's last seq
    assert alice.feedback.asked == [(7, 5)]


def test_what_is_not_srtp_goes_to_aioice_with_the_senders_address(alice: Publisher) -> None:
    stun = b"\x00\x01\x00\x00" + bytes(16)
    alice.receive([alice.protect(rtp(1, 0, VP8_KEY)), stun, alice.protect(rtp(2, 0))])
    assert alice.to_aioice == [(stun, alice.browser.getsockname())]
    assert alice.native.packets == 2


def test_a_packet_that_fails_authentication_is_dropped(alice: Publisher) -> None:
    forged = bytearray(alice.protect(rtp(1, 0, VP8_KEY)))
    forged[-1] ^= 0xFF
    alice.receive([bytes(forged)])
    assert alice.native.packets == 0
    assert alice.to_aioice == []


def test_before_dtls_srtp_is_up_rtp_goes_to_aiortc(alice: Publisher) -> None:
    alice.dtls._rx_srtp = None
    packet = alice.protect(rtp(1, 0, VP8_KEY))
    alice.receive([packet])
    assert alice.to_aioice == [(packet, alice.browser.getsockname())]


def test_the_audio_level_is_smoothed_as_python_does() -> None:
    track = forwarding.NativeTrack("alice", "microphone", "normal", "audio", {OPUS_PT: "audio/opus"}, audio_level_id=1)
    track.allowed = True
    sender = Publisher({0x2222: track})
    try:
        packets = [rtp(seq, 960 * seq, b"\x78opus", ssrc=0x2222, pt=OPUS_PT, audio_level=30) for seq in (1, 2)]
        sender.receive([sender.protect(p) for p in packets])
    finally:
        sender.close()
    reference = forwarding.PyTrack("alice", "microphone", "normal", "audio", {OPUS_PT: "audio/opus"}, audio_level_id=1)
    reference.allowed = True
    for packet in packets:
        reference.on_rtp(packet, 0)
    assert track.level == reference.level < 127


def test_video_packets_reach_the_estimator_once_per_group(alice: Publisher) -> None:
    ext_id = 3
    receiver = forwarding.native._fastpath.Receiver(
        route=alice.route,
        bind=lambda: seam.rx_target(alice.dtls),  # type: ignore[arg-type]
        remb=lambda *group: alice.groups.append(group),
        ntp_offset_ms=0,
        abs_send_time_id=ext_id,
    )
    alice.native = receiver

    def with_send_time(seq: int, send_time: int) -> bytes:
        packet = bytearray(rtp(seq, 0, VP8_KEY if seq == 1 else VP8_DELTA))
        packet[0] |= 0x10
        ext = bytes([0xBE, 0xDE, 0, 1, (ext_id << 4) | 2]) + send_time.to_bytes(3, "big")
        return bytes(packet[:12]) + ext + bytes(packet[12:])

    # two packets sent together, then one 20 ms later (2^18 units per second)
    packets = [with_send_time(1, 1000), with_send_time(2, 1100), with_send_time(3, 1000 + 5243)]
    alice.receive([alice.protect(p) for p in packets])
    assert [(send_time, size, ssrc) for _, send_time, size, ssrc in alice.groups] == [
        (1100, len(packets[0]) + len(packets[1]) - 24, 0x1111),
        (1000 + 5243, len(packets[2]) - 12, 0x1111),
    ]


# --- the loop's receive set: one epoll set reading every publisher socket


def read_set() -> Any:
    return forwarding.native._fastpath.ReceiveSet()


def send_and_wait(receive_set: Any, sender: Publisher, datagrams: list[bytes]) -> None:
    """Send these to the publisher's socket and wait until the set says a socket is readable."""
    for data in datagrams:
        sender.browser.sendto(data, sender.ice.getsockname())
    time.sleep(0.05)
    assert select.select([receive_set.fileno()], [], [], 1.0)[0]


def test_the_set_reads_every_ready_socket_in_one_drain() -> None:
    (alice_track, alice_out), (bob_track, bob_out) = camera(forwarding.NativeTrack), camera(forwarding.NativeTrack)
    alice, bob = Publisher({0x1111: alice_track}), Publisher({0x1111: bob_track})
    receive_set = read_set()
    try:
        for sender in (alice, bob):
            receive_set.add(sender.ice, sender.native, sender.aioice)
        send_and_wait(receive_set, alice, [alice.protect(p) for p in stream()])
        send_and_wait(receive_set, bob, [bob.protect(p) for p in stream()])
        receive_set.drain()
    finally:
        alice.close()
        bob.close()
    reference, reference_out = camera(forwarding.PyTrack)
    for packet in stream():
        reference.on_rtp(packet, 0)
    assert alice_out.packets == bob_out.packets == reference_out.packets
    assert (receive_set.drains, receive_set.datagrams) == (1, 2 * len(stream()))
    # the gap (6 lost, 7 after 5) went to each stream's NACK generator, the in-order packets did not
    assert alice.feedback.asked == bob.feedback.asked == [(7, 5)]


class Generator(Feedback):
    """Keeps the newest sequence number, as aiortc's NackGenerator does, and reports nothing missing."""

    def nack(self, seq: int, max_seq: int) -> tuple[int, bool]:
        self.asked.append((seq, max_seq))
        return (seq if max_seq < 0 or 0 < (seq - max_seq) & 0xFFFF < 0x8000 else max_seq), False


def test_the_set_hands_lost_and_reordered_packets_to_the_nack_generator(alice: Publisher) -> None:
    alice.feedback = Generator()
    receive_set = read_set()
    receive_set.add(alice.ice, alice.native, alice.aioice)
    packets = [rtp(1, 0, VP8_KEY), rtp(2, 3000), rtp(4, 6000), rtp(3, 6000), rtp(5, 9000), rtp(7, 9000)]
    send_and_wait(receive_set, alice, [alice.protect(p) for p in packets])
    receive_set.drain()
    # 4 opens a gap and 3 comes late: the generator hears of both; 5 follows 4 in order; 7 opens a gap
    assert alice.feedback.asked == [(4, 2), (3, 4), (7, 5)]
    assert alice.native.packets == alice.tracks[0x1111].packets == len(packets)


def test_the_set_passes_what_is_not_srtp_to_the_fallback_with_the_senders_address(alice: Publisher) -> None:
    receive_set = read_set()
    receive_set.add(alice.ice, alice.native, alice.aioice)
    stun = b"\x00\x01\x00\x00" + bytes(16)
    send_and_wait(receive_set, alice, [alice.protect(rtp(1, 0, VP8_KEY)), stun, alice.protect(rtp(2, 0))])
    receive_set.drain()
    assert alice.to_aioice == [(stun, alice.browser.getsockname())]
    assert alice.native.packets == 2


def test_a_socket_closed_while_draining_is_not_read_under_its_reused_number() -> None:
    (alice_track, _), (bob_track, bob_out) = camera(forwarding.NativeTrack), camera(forwarding.NativeTrack)
    alice, bob = Publisher({0x1111: alice_track}), Publisher({0x1111: bob_track})
    receive_set = read_set()
    bob_fd = bob.ice.fileno()
    newcomer: list[socket.socket] = []

    def close_bob(data: bytes, addr: Any) -> None:
        # aioice's handler, hearing alice's STUN, closes bob's socket; a new one takes its number
        bob.ice.close()
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.1", 0))
        other.setblocking(False)
        bob.browser.sendto(b"someone else's", other.getsockname())
        newcomer.append(other)

    try:
        receive_set.add(alice.ice, alice.native, close_bob)
        receive_set.add(bob.ice, bob.native, bob.aioice)
        send_and_wait(receive_set, alice, [b"\x00\x01\x00\x00" + bytes(16)])
        send_and_wait(receive_set, bob, [bob.protect(p) for p in stream()])
        receive_set.drain()
        assert newcomer and newcomer[0].fileno() == bob_fd
        assert newcomer[0].recv(100) == b"someone else's"
        assert bob_out.packets == [] and bob.to_aioice == []
        assert receive_set.size == 1
    finally:
        alice.close()
        bob.browser.close()
        for other in newcomer:
            other.close()


def test_remove_leaves_another_socket_added_under_the_same_number() -> None:
    (alice_track, _), (bob_track, bob_out) = camera(forwarding.NativeTrack), camera(forwarding.NativeTrack)
    alice, bob = Publisher({0x1111: alice_track}), Publisher({0x1111: bob_track})
    receive_set = read_set()
    try:
        alice_sock, alice_fd = alice.ice, alice.ice.fileno()
        receive_set.add(alice_sock, alice.native, alice.aioice)
        alice_sock.close()  # closed without remove (the connection went away first)
        bob.ice.close()
        bob.ice = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bob.ice.bind(("127.0.0.1", 0))
        assert bob.ice.fileno() == alice_fd
        receive_set.add(bob.ice, bob.native, bob.aioice)
        assert receive_set.remove(alice_fd, alice_sock) is False
        assert receive_set.size == 1
        send_and_wait(receive_set, bob, [bob.protect(p) for p in stream()])
        receive_set.drain()
        assert len(bob_out.packets) == len(stream())
        assert receive_set.remove(alice_fd, bob.ice) is True
        assert receive_set.size == 0
        bob.browser.sendto(bob.protect(rtp(9, 0)), bob.ice.getsockname())
        time.sleep(0.05)
        assert not select.select([receive_set.fileno()], [], [], 0.05)[0]
    finally:
        alice.browser.close()
        bob.close()


def test_an_exception_in_one_socket_leaves_the_others_read_and_is_raised() -> None:
    (alice_track, _), (bob_track, bob_out) = camera(forwarding.NativeTrack), camera(forwarding.NativeTrack)
    alice, bob = Publisher({0x1111: alice_track}), Publisher({0x1111: bob_track})
    receive_set = read_set()

    def broken(data: bytes, addr: Any) -> None:
        raise RuntimeError("aioice failed")

    try:
        receive_set.add(alice.ice, alice.native, broken)
        receive_set.add(bob.ice, bob.native, bob.aioice)
        send_and_wait(receive_set, alice, [b"\x00\x01\x00\x00" + bytes(16)])
        send_and_wait(receive_set, bob, [bob.protect(p) for p in stream()])
        with pytest.raises(RuntimeError, match="aioice failed"):
            receive_set.drain()
        assert len(bob_out.packets) == len(stream())
    finally:
        alice.close()
        bob.close()


@needs_netns
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("native", "one_set"), [(True, True), (True, False), (False, False)], ids=["c-set", "c-reader", "python"]
)
async def test_real_peers_through_either_receive_path(
    classroom: Classroom, native: bool, one_set: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher, "NATIVE_RECEIVE", native)
    monkeypatch.setattr(publisher, "RECEIVE_SET", one_set)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish({("camera", "normal"): PatternTrack(320, 180)})
    await bob.join()
    await bob.wait_frames("alice", "camera", count=10)
    await asyncio.sleep(0.3)  # a tick or more: the statistics are copied in
    published = classroom.node._rooms[ROOM].peers["alice"].publisher
    assert published is not None
    receivers = set(published._native.values())
    assert bool(receivers) == native
    for receiver in receivers:
        assert receiver.packets > 10
        assert receiver.to_python < receiver.packets / 5
    # aiortc's receiver reports read these statistics, whichever path counted
    counted = [feedback.stats.packets_received for feedback in published._feedback.values()]
    assert counted and all(n > 10 for n in counted)
    receive_set = publisher._RECEIVE_SETS.get(asyncio.get_running_loop())
    if one_set:
        # asyncio no longer reads the publisher's socket: the set does
        assert receive_set is not None and receive_set.size >= 1
        assert receive_set.datagrams > 10
        await classroom.node.leave(ROOM, "alice", park=False)  # for good: its connections close
        assert receive_set.size == 0
    else:
        assert receive_set is None or receive_set.size == 0
