"""The C forwarding path (media_server/_fastpath.c) against the Python one, on real SRTP and sockets."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import socket
import struct
import sys
import tracemalloc
import weakref
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcdtlstransport import State
from pylibsrtp import Policy, Session

from media_server import forwarding
from media_server.forwarding import Output
from media_server.rtp import find_extension

from .packets import VP8_DELTA, VP8_KEY, VP8_PT, Recorder, rtp

pytestmark = pytest.mark.skipif(
    forwarding.native._fastpath is None and os.environ.get("MEDIA_FORWARDER_C") == "0",
    reason="MEDIA_FORWARDER_C=0: the C path is switched off on purpose",
)

KEY = bytes(range(44))  # AES-256-GCM: 32-byte key and 12-byte salt
SUB_PT = 100
SUB_SSRC = 0x5000


def test_the_extension_is_built_and_used() -> None:
    # make install builds it: a forwarder silently back on the slow path would be a regression
    assert forwarding.native._fastpath is not None, "media_server/_fastpath.c is not built: run make install"
    assert forwarding.NATIVE
    assert forwarding.Slot is forwarding.NativeSlot
    assert forwarding.Track.fanout is forwarding.native._fastpath.fanout


class Link:
    """A subscriber as Output sees one: a DTLS-SRTP session, an ICE pair, a UDP socket pair."""

    def __init__(self, wrapper: str = "asyncio") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sinks = [self._sink(), self._sink()]
        self.nominated: dict[int, Any] = {}
        policy = Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
        # what transport.get_extra_info("socket") gives: asyncio's TransportSocket, uvloop's
        # pseudo-socket (a descriptor, no _sock), or nothing at all
        extra = {
            "asyncio": SimpleNamespace(_sock=self.sock, fileno=self.sock.fileno),
            "socket": self.sock,
            "uvloop": SimpleNamespace(fileno=self.sock.fileno),
            "none": None,
        }[wrapper]
        transport = SimpleNamespace(get_extra_info=lambda name: extra, sendto=self.sock.sendto)
        self.from_subscriber: list[tuple[bytes, Any]] = []
        self.protocol = SimpleNamespace(
            transport=transport, datagram_received=lambda data, addr: self.from_subscriber.append((data, addr))
        )
        self.dtls = SimpleNamespace(
            _tx_srtp=Session(policy),
            _state=State.CONNECTED,
            transport=SimpleNamespace(_connection=SimpleNamespace(_nominated=self.nominated)),
        )
        self.point_at(0)
        self.output = Output(self.dtls)  # type: ignore[arg-type]
        self.rx = Session(
            Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
        )

    @staticmethod
    def _sink() -> socket.socket:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(0.5)
        return sink

    def point_at(self, index: int) -> None:
        """Nominate a new pair towards sink number index, as an ICE restart would."""
        self.nominated[1] = SimpleNamespace(protocol=self.protocol, remote_addr=self.sinks[index].getsockname())

    def received(self, index: int = 0) -> list[bytes]:
        """Return the decrypted packets that reached sink number index so far."""
        packets = []
        sink = self.sinks[index]
        sink.setblocking(False)
        while True:
            try:
                packets.append(self.rx.unprotect(sink.recv(2048)))
            except BlockingIOError:
                return packets

    def close(self) -> None:
        for s in [self.sock, *self.sinks]:
            s.close()


def native_camera(output: Any, abs_send_time_id: int = 0) -> tuple[Any, Any]:
    """A publisher's camera track and one C slot subscribed to it, sending to output."""
    track = forwarding.NativeTrack("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    slot = forwarding.NativeSlot("video", SUB_SSRC, output)
    slot.payload_types = {"video/VP8": SUB_PT}
    slot.abs_send_time_id = abs_send_time_id
    slot.attach(track)
    return track, slot


@pytest.fixture
def link() -> Any:
    link = Link()
    yield link
    link.close()


@pytest.mark.parametrize(("wrapper", "bound"), [("uvloop", True), ("none", False)])
def test_any_socket_wrapper_works_and_c_sends_when_there_is_a_descriptor(wrapper: str, bound: bool) -> None:
    link = Link(wrapper)
    try:
        track, slot = native_camera(link.output)
        for seq in range(1, 4):
            track.on_rtp(rtp(seq, 0, VP8_KEY), 0)
        assert [struct.unpack_from("!H", p, 2)[0] for p in link.received()] == [0, 1, 2]
        assert slot.bound is bound
    finally:
        link.close()


def stream(count: int, seed: int) -> list[bytes]:
    """A camera's packets, with a keyframe every 30, reordering and a jump, as networks give them."""
    rng = random.Random(seed)
    packets = []
    seq = 65500  # wraps during the test
    ts = 0xFFFF0000  # wraps too
    for i in range(count):
        payload = (VP8_KEY if i % 30 == 0 else VP8_DELTA) + rng.randbytes(rng.randrange(0, 1200))
        packets.append(rtp(seq & 0xFFFF, ts & 0xFFFFFFFF, payload, marker=i % 3 == 2))
        seq += 1
        ts += 3000 if i % 3 == 2 else 0
    rng.shuffle(packets[10:14])
    return packets


def run(
    track_cls: type, slot_cls: type, output: Any, switch_every: int, after: Any = None, abs_send_time_id: int = 0
) -> list[Any]:
    """Forward two publishers' streams to one slot, switching between them; return the slots."""
    tracks = [track_cls("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"}) for _ in range(2)]
    for track in tracks:
        track.allowed = True
    slot = slot_cls("video", SUB_SSRC, output)
    slot.payload_types = {"video/VP8": SUB_PT}
    slot.abs_send_time_id = abs_send_time_id
    slot.attach(tracks[0])
    streams = [stream(300, 1), stream(300, 2)]
    for i in range(300):
        if i % switch_every == 0 and i:
            slot.attach(tracks[(i // switch_every) % 2])
        for track, packets in zip(tracks, streams, strict=True):
            track.on_rtp(packets[i], i * 10)
        if after is not None:
            after()
    return [slot, tracks]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clock abs-send-time is read from: advances 1 ms per reading, from the same start."""
    now = [1_700_000_000.0]

    def tick() -> float:
        now[0] += 0.001
        return now[0]

    monkeypatch.setattr(forwarding.track, "clock", tick)
    return now


@pytest.mark.parametrize("abs_send_time_id", [0, 3])
def test_c_and_python_send_the_same_packets(clock: list[float], abs_send_time_id: int) -> None:
    c, py = Recorder(), Recorder()
    start = clock[0]
    c_slot = run(forwarding.NativeTrack, forwarding.NativeSlot, c, 37, abs_send_time_id=abs_send_time_id)[0]
    clock[0] = start
    py_slot = run(forwarding.PyTrack, forwarding.PySlot, py, 37, abs_send_time_id=abs_send_time_id)[0]
    assert len(c.packets) > 300  # both streams, switches on keyframes
    assert c.packets == py.packets
    for name in ("seq_offset", "ts_offset", "start_seq", "last_seq", "last_ts", "last_ms", "packets", "pt_map"):
        assert getattr(c_slot, name) == getattr(py_slot, name), name
    last = py.headers()[-1][1]
    assert c_slot.history_get(last) == py_slot.history_get(last) is not None


def test_c_protects_and_sends_what_python_would(link: Link, clock: list[float]) -> None:
    sent: list[bytes] = []
    start = clock[0]
    # read as it goes: the socket's receive buffer holds fewer than the test sends
    c_slot = run(
        forwarding.NativeTrack,
        forwarding.NativeSlot,
        link.output,
        50,
        lambda: sent.extend(link.received()),
        abs_send_time_id=5,
    )[0]
    assert c_slot.bound  # sent from C, not through Output.send
    clock[0] = start
    expected = Recorder()
    run(forwarding.PyTrack, forwarding.PySlot, expected, 50, abs_send_time_id=5)
    assert sent == expected.packets


def test_abs_send_time_is_the_send_clock_in_6_18_seconds(clock: list[float]) -> None:
    sent = Recorder()
    track, slot = native_camera(sent, abs_send_time_id=7)
    clock[0] = 100.0  # the next reading is 100.001 s
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    track.on_rtp(rtp(2, 0, VP8_DELTA), 0)
    values = [int.from_bytes(find_extension(p, 7) or b"", "big") for p in sent.packets]
    assert values == [int(100.001 * 2**18) & 0xFFFFFF, int(100.002 * 2**18) & 0xFFFFFF]
    assert [p[20:] for p in sent.packets] == [VP8_KEY, VP8_DELTA]  # payload after the 8-byte block
    assert slot.history_get(0) == rtp(0, 0, VP8_KEY, ssrc=SUB_SSRC, pt=SUB_PT)  # retransmissions: none


def test_a_new_ice_pair_moves_the_stream(link: Link) -> None:
    track, slot = native_camera(link.output)
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    track.on_rtp(rtp(2, 0, VP8_DELTA), 0)
    link.point_at(1)
    track.on_rtp(rtp(3, 0, VP8_DELTA), 0)
    assert [struct.unpack_from("!H", p, 2)[0] for p in link.received(0)] == [0, 1]
    assert [struct.unpack_from("!H", p, 2)[0] for p in link.received(1)] == [2]


def test_nothing_is_sent_before_srtp_nor_after_close(link: Link) -> None:
    track, slot = native_camera(link.output)
    link.dtls._state = State.CONNECTING
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    assert link.received() == [] and not slot.bound
    link.dtls._state = State.CONNECTED
    track.on_rtp(rtp(2, 0, VP8_DELTA), 0)
    assert len(link.received()) == 1 and slot.bound
    # aioice forgets the nominated pair before it closes the sockets
    link.nominated.clear()
    link.sock.close()
    track.on_rtp(rtp(3, 0, VP8_DELTA), 0)
    assert not slot.bound
    assert slot.packets == 3  # counted as forwarded, as the Python path counts them


def test_too_large_a_packet_is_dropped_not_truncated(link: Link) -> None:
    track, slot = native_camera(link.output)
    track.on_rtp(rtp(1, 0, VP8_KEY + bytes(forwarding.MAX_PLAIN - 12 - len(VP8_KEY))), 0)
    track.on_rtp(rtp(2, 0, VP8_DELTA + bytes(forwarding.MAX_PLAIN)), 0)
    slot.abs_send_time_id = 2  # 8 more bytes: the same payload no longer fits
    track.on_rtp(rtp(3, 0, VP8_KEY + bytes(forwarding.MAX_PLAIN - 12 - len(VP8_KEY))), 0)
    track.on_rtp(rtp(4, 0, VP8_KEY + bytes(forwarding.MAX_PLAIN - 20 - len(VP8_KEY))), 0)
    sizes = [len(p) for p in link.received()]
    assert sizes == [forwarding.MAX_PLAIN, forwarding.MAX_PLAIN]


def test_a_slot_and_its_track_are_freed_with_their_payloads() -> None:
    payload = VP8_KEY + os.urandom(200)
    before = sys.getrefcount(payload)
    track, slot = native_camera(Recorder())
    track.on_rtp(rtp(1, 0, VP8_KEY), 0)
    track.fanout(track.slots, 0x80, VP8_PT, 2, 0, payload, 0, 0)
    assert slot.history_get(1) == rtp(1, 0, payload, ssrc=SUB_SSRC, pt=SUB_PT)
    assert sys.getrefcount(payload) == before + 1  # kept for retransmission, not copied
    # slot -> track (slot.track) -> slot (track.slots): a cycle only the garbage collector breaks
    del slot, track
    gc.collect()
    assert sys.getrefcount(payload) == before


def test_bad_input_is_refused_with_an_error() -> None:
    slot = forwarding.NativeSlot("video", SUB_SSRC, Recorder())
    with pytest.raises(ValueError):
        slot.pt_map = {200: 1}
    with pytest.raises(TypeError):
        forwarding.native._fastpath.fanout([object()], 0x80, 96, 1, 0, b"x", 0, 0)  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        forwarding.native._fastpath.fanout([slot], 0x80, 96, 1, 0, "not bytes", 0, 0)  # type: ignore[union-attr,arg-type]


@pytest.mark.skipif(not forwarding.output.CONNECTED, reason="MEDIA_CONNECTED_SOCKETS=0")
async def test_c_sends_on_a_socket_connected_to_the_subscriber_and_ice_still_hears_everyone() -> None:
    link = Link("socket")
    try:
        track, slot = native_camera(link.output)
        track.on_rtp(rtp(1, 0, VP8_KEY), 0)
        wire = link.output._wire
        assert wire is not None and slot.bound
        # same local address and port as the ICE socket (the subscriber's ICE knows no other)
        assert wire.getsockname() == link.sock.getsockname()
        assert wire.getpeername() == link.sinks[0].getsockname()
        assert [struct.unpack_from("!H", p, 2)[0] for p in link.received()] == [0]
        # the subscriber's RTCP now arrives on the connected socket and goes to ICE's protocol
        link.sinks[0].sendto(b"rtcp from the subscriber", link.sock.getsockname())
        # anyone else (a new path, another candidate) still reaches the ICE socket itself
        link.sinks[1].sendto(b"stun from elsewhere", link.sock.getsockname())
        async with asyncio.timeout(2):
            while not link.from_subscriber:
                await asyncio.sleep(0.01)
        assert link.from_subscriber == [(b"rtcp from the subscriber", link.sinks[0].getsockname())]
        link.sock.settimeout(1)
        assert link.sock.recvfrom(100) == (b"stun from elsewhere", link.sinks[1].getsockname())

        # a new pair: a new connected socket; the old one closes once no slot holds it
        link.point_at(1)
        track.on_rtp(rtp(2, 0, VP8_DELTA), 0)
        assert [struct.unpack_from("!H", p, 2)[0] for p in link.received(1)] == [1]
        assert link.output._wire is not None and link.output._wire.getpeername() == link.sinks[1].getsockname()
        old, old_fd = weakref.ref(wire), wire.fileno()
        del wire
        gc.collect()
        assert old() is None
        with pytest.raises(OSError):
            os.fstat(old_fd)
        # closing the output stops reading; the slot's reference is then the last one
        last, last_fd = weakref.ref(link.output._wire), link.output._wire.fileno()
        link.output.close()
        assert last() is not None and link.output._wire is None
        slot.detach()
        del slot, track
        gc.collect()
        assert last() is None
        with pytest.raises(OSError):
            os.fstat(last_fd)
    finally:
        link.close()


def test_idle_slots_cost_no_retransmission_ring() -> None:
    track = forwarding.NativeTrack("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        slots = [forwarding.NativeSlot("video", SUB_SSRC + i, Recorder()) for i in range(50)]
        idle = (tracemalloc.get_traced_memory()[0] - base) / 50
        for slot in slots:
            slot.payload_types = {"video/VP8": SUB_PT}
            slot.attach(track)
        track.on_rtp(rtp(1, 0, VP8_KEY), 0)
        in_use = (tracemalloc.get_traced_memory()[0] - base) / 50
        for slot in slots:
            slot.detach()
        detached = (tracemalloc.get_traced_memory()[0] - base) / 50
    finally:
        tracemalloc.stop()
    ring = forwarding.native._fastpath.HISTORY * (8 + 4 + 4 + 2)
    assert idle < 2000  # was 9.7 KB with the ring inside every slot
    assert in_use > idle + ring * 0.9
    assert detached < idle + 1000
