"""Server CPU per incoming RTP packet on a publisher's socket: the C receive path against Python's.

Run inside the private network namespace:

    scripts/netns-run .venv/bin/python bench/receive_cpu.py [--subscribers 4] [--packets 20000]

One publisher transport as media_server.publisher hooks it: real SRTP (AES-256-GCM) on a real UDP
socket, a real _Feedback (aiortc's statistics, NACK generator and REMB estimator), a track with
N subscriber slots sending through real SRTP sessions and sockets. Each round sends a frame's
packets to the socket and hands the first to the socket callback, as asyncio would; the callback
reads the rest. Prints CPU per incoming packet for each path, alternately, and the medians.

--sockets N measures the event loop's part instead (the discussion's case: microphones from many
publishers, one packet per read): N publisher sockets on a real asyncio loop, each a microphone
track with --subscribers slots, fed by a sender process that paces --rate packets per second
round robin over the sockets (one datagram each, every millisecond). Alternately: asyncio's
reader per socket calling the C Receiver ("reader per socket", before) and the loop's one
ReceiveSet ("receive set"). CPU is this process's (the sender's is its own), over --seconds.
Under `valgrind --tool=callgrind`, two runs of one path with different --seconds and the same
--prepare differ by their windows only: the difference in instructions over the difference in
packets is that path's user-space instructions per incoming packet, whatever the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import statistics
import struct
import sys
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCRtpReceiver
from pylibsrtp import Policy, Session

from bench.forwarding_cpu import fake_dtls
from media_server import publisher, seam
from media_server.forwarding import NativeSlot, NativeTrack, Output
from media_server.forwarding.native import _fastpath

SINK = "10.99.0.2" if os.environ.get("CV_IN_NETNS") == "1" else "127.0.0.1"
KEY = os.urandom(44)
PROFILE = Policy.SRTP_PROFILE_AEAD_AES_256_GCM
ABS_SEND_TIME_ID = 2


def packets(count: int, per_frame: int, size: int) -> list[bytes]:
    """Return a low-rate camera's packets: abs-send-time, per_frame packets per frame."""
    out = []
    for i in range(count):
        frame = i // per_frame
        start = i % per_frame == 0
        tag = 0x10 if i == 0 else 0x11  # the first frame a keyframe: the slots switch to the track there
        descriptor = bytes([0x90 if start else 0x80, 0x80, 0x80 | (frame >> 8 & 0x7F), frame & 0xFF, tag])
        send_time = (frame * 17476) & 0xFFFFFF  # 15 fps in 6.18 seconds
        ext = struct.pack("!HH", 0xBEDE, 1) + bytes([ABS_SEND_TIME_ID << 4 | 2]) + send_time.to_bytes(3, "big")
        marker = 0x80 if i % per_frame == per_frame - 1 else 0
        header = struct.pack("!BBHII", 0x90, marker | 96, i & 0xFFFF, 6000 * frame, 0x1234)
        out.append(header + ext + descriptor + bytes(size - len(descriptor)))
    return out


class Path_:
    """One receive path on its own socket, track and slots."""

    def __init__(self, native: bool, subscribers: int, loop: asyncio.AbstractEventLoop) -> None:
        self.native = native
        self.tx = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE))
        self.tx_policy_allow_repeat = True
        rx = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE))
        self.ice = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ice.bind((SINK, 0))
        self.ice.setblocking(False)
        self.browser = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.browser.bind((SINK, 0))
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind((SINK, 0))
        self.track = NativeTrack("alice", "camera", "normal", "video", {96: "video/VP8"})
        self.track.allowed = True
        self.slots = []
        self.transports: list[Any] = []
        self.loop = loop
        self.subscribers = subscribers
        self.dtls = SimpleNamespace(_rx_srtp=rx)
        receiver = RTCRtpReceiver("video", SimpleNamespace(state="new"))
        self.feedback = publisher._Feedback(receiver, 0x1234, 90000, ABS_SEND_TIME_ID, seam.RemoteBitrateEstimator())
        protocol = SimpleNamespace(
            transport=SimpleNamespace(get_extra_info=lambda name: SimpleNamespace(_sock=self.ice)),
            datagram_received=lambda data, addr: None,
        )
        if native:
            self.receiver = _fastpath.Receiver(
                route=self.route,
                bind=lambda: seam.rx_target(self.dtls),  # type: ignore[arg-type]
                remb=self.remb,
                ntp_offset_ms=0,
                abs_send_time_id=ABS_SEND_TIME_ID,
            )
            self.handler = lambda data, addr: self.receiver.receive(
                self.ice.fileno(), protocol.datagram_received, data, addr
            )
        else:
            track, feedback = self.track, self.feedback

            def on_rtp(data: bytes, arrival_ms: int) -> None:
                feedback.add(data, arrival_ms)
                track.on_rtp(data, arrival_ms)

            self.handler = publisher._receive_srtp(self.dtls, protocol, on_rtp)  # type: ignore[arg-type]

    def route(self, data: bytes, arrival_ms: int) -> None:
        self.receiver.add_stream(0x1234, self.track, self.feedback, 90000, True, True, 0)

    def remb(self, arrival_ms: int, abs_send_time: int, payload_size: int, ssrc: int) -> None:
        self.feedback.estimator.add(  # type: ignore[union-attr]
            abs_send_time=abs_send_time, arrival_time_ms=arrival_ms, payload_size=payload_size, ssrc=ssrc
        )

    async def add_slots(self) -> None:
        for i in range(self.subscribers):
            transport, _ = await self.loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(SINK, 0))
            self.transports.append(transport)
            slot = NativeSlot("video", 0x5000 + i, Output(fake_dtls(transport, self.sink.getsockname(), "aes256gcm")))  # type: ignore[arg-type]
            slot.payload_types = {"video/VP8": 100}
            slot.attach(self.track)
            self.slots.append(slot)

    def feed(self, frames: list[list[bytes]]) -> float:
        """Send each frame to the socket and run the callback; return CPU seconds."""
        addr = self.browser.getsockname()
        target = self.ice.getsockname()
        cpu = 0.0
        for frame in frames:
            protected = [self.tx.protect(p) for p in frame]
            for data in protected[1:]:
                self.browser.sendto(data, target)
            before = resource.getrusage(resource.RUSAGE_SELF)
            self.handler(protected[0], addr)
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu += after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return cpu

    def close(self) -> None:
        for transport in self.transports:
            transport.close()
        for sock in (self.ice, self.browser, self.sink):
            sock.close()


OPUS_PT = 111


def opus_packets(ssrc: int, count: int) -> list[bytes]:
    """Return a microphone's packets: Opus, 20 ms each, a silent RFC 6464 level (id 1)."""
    out = []
    for seq in range(count):
        ext = struct.pack("!HH", 0xBEDE, 1) + bytes([1 << 4, 0x80 | 60, 0, 0])
        header = struct.pack("!BBHII", 0x90, OPUS_PT, seq & 0xFFFF, 960 * seq, ssrc)
        out.append(header + ext + bytes(80))
    return out


def pace(targets: list[tuple[str, int]], streams: list[list[bytes]], rate: int, start: Any, done: Any) -> None:
    """Send one datagram per socket in turn, rate per second in 1 ms ticks (the sender process)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((SINK, 0))
    per_tick = max(1, rate // 1000)
    start.wait()
    k = 0
    total = sum(len(stream) for stream in streams)
    next_tick = time.monotonic()
    while k < total:
        for _ in range(per_tick):
            i = k % len(targets)
            sock.sendto(streams[i][k // len(targets)], targets[i])
            k += 1
            if k == total:
                break
        next_tick += 0.001
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    done.set()


class Aioice(asyncio.DatagramProtocol):
    """Where STUN, DTLS and RTCP would go: aioice's protocol (none are sent here)."""

    def datagram_received(self, data: bytes, addr: Any) -> None:
        pass


class Microphone:
    """One publisher socket with a microphone track and its slots, hooked as publisher.py does."""

    def __init__(self, index: int, subscribers: int, sink: Any) -> None:
        key = os.urandom(44)
        self.ssrc = 0x10000 + index
        self.tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE))
        self.dtls = SimpleNamespace(
            _rx_srtp=Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE))
        )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((SINK, 0))
        self.sock.setblocking(False)
        self.track = NativeTrack(
            f"p{index}", "microphone", "normal", "audio", {OPUS_PT: "audio/opus"}, audio_level_id=1
        )
        self.track.allowed = True
        self.subscribers = subscribers
        self.sink = sink
        self.slots: list[Any] = []
        self.transports: list[Any] = []
        self.receiver = _fastpath.Receiver(
            route=self.route,
            bind=lambda: seam.rx_target(self.dtls),  # type: ignore[arg-type]
            remb=lambda *group: None,
            ntp_offset_ms=0,
            abs_send_time_id=0,
        )

    def route(self, data: bytes, arrival_ms: int) -> None:
        self.receiver.add_stream(self.ssrc, self.track, SimpleNamespace(nack=None), 48000, False, False, 1)

    async def open(self, loop: asyncio.AbstractEventLoop, receive_set: Any | None) -> None:
        for i in range(self.subscribers):
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(SINK, 0))
            self.transports.append(transport)
            slot = NativeSlot("audio", 0x6000 + i, Output(fake_dtls(transport, self.sink, "aes256gcm")))  # type: ignore[arg-type]
            slot.payload_types = {"audio/opus": 109}
            slot.attach(self.track)
            self.slots.append(slot)
        protocol = Aioice()
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=self.sock)
        self.transports.append(transport)
        fallback = protocol.datagram_received
        if receive_set is not None and seam.stop_reading(loop, self.sock):
            receive_set.add(self.sock, self.receiver, fallback)
        else:
            protocol.datagram_received = partial(self.receiver.receive, self.sock.fileno(), fallback)  # type: ignore[method-assign]

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


async def loop_window(use_set: bool, args: argparse.Namespace) -> tuple[float, int, int]:
    """Run one window; return CPU seconds, packets received and the set's wake-ups (warm-up included)."""
    loop = asyncio.get_running_loop()
    receive_set = None
    if use_set:
        receive_set = _fastpath.ReceiveSet()
        loop.add_reader(receive_set.fileno(), receive_set.drain)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((SINK, 0))
    mics = [Microphone(i, args.subscribers, sink.getsockname()) for i in range(args.sockets)]
    for mic in mics:
        await mic.open(loop, receive_set)
    per_socket = int(args.rate * args.seconds) // args.sockets
    # protected up front, as many as --prepare asks: instruction counts of two windows differ by the window only
    prepared = max(per_socket, int(args.rate * (args.prepare or 0)) // args.sockets)
    streams = [[mic.tx.protect(p) for p in opus_packets(mic.ssrc, prepared + 50)][: per_socket + 50] for mic in mics]
    warm = [stream[:50] for stream in streams]
    measured = [stream[50:] for stream in streams]
    targets = [mic.sock.getsockname() for mic in mics]
    ctx = multiprocessing.get_context("fork")
    cpu = 0.0
    for phase, batch in (("warm", warm), ("measure", measured)):
        start, done = ctx.Event(), ctx.Event()
        sender = ctx.Process(target=pace, args=(targets, batch, args.rate, start, done))
        sender.start()
        await asyncio.sleep(0.2)
        expected = sum(mic.track.packets for mic in mics) + sum(len(stream) for stream in batch)
        before = resource.getrusage(resource.RUSAGE_SELF)
        start.set()
        while not done.is_set() or sum(mic.track.packets for mic in mics) < expected:
            await asyncio.sleep(0.05)
            if done.is_set() and sum(mic.track.packets for mic in mics) < expected:
                await asyncio.sleep(0.2)  # the last datagrams, or some lost: stop anyway
                break
        after = resource.getrusage(resource.RUSAGE_SELF)
        if phase == "measure":
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        sender.join()
    received = sum(mic.track.packets for mic in mics) - 50 * len(mics)
    for mic in mics:
        mic.close()
    wakeups = 0
    if receive_set is not None:
        wakeups = receive_set.drains
        loop.remove_reader(receive_set.fileno())
        receive_set.close()
    sink.close()
    await asyncio.sleep(0.1)
    return cpu, received, wakeups


async def sockets_main(args: argparse.Namespace) -> None:
    names = {"both": ["reader per socket", "receive set"], "socket": ["reader per socket"], "set": ["receive set"]}
    results: dict[str, list[float]] = {name: [] for name in names[args.only]}
    for _ in range(args.rounds):
        line = []
        for name in results:
            cpu, received, wakeups = await loop_window(name == "receive set", args)
            results[name].append(cpu * 1e6 / max(received, 1))
            extra = ""
            if wakeups:
                extra = f", {(received + 50 * args.sockets) / wakeups:.2f} datagrams per wake-up"
            line.append(f"{name} {results[name][-1]:6.2f} µs ({received} packets{extra})")
        print("  " + "; ".join(line), flush=True)
    if len(results) == 1:
        return
    before, after = (statistics.median(v) for v in results.values())
    print(
        f"event loop + receive, {args.sockets} publisher sockets, {args.rate} pkt/s one per read, "
        f"{args.subscribers} slots each, medians of {args.rounds}: reader per socket {before:.2f} µs, "
        f"receive set {after:.2f} µs per incoming packet ({before / after:.2f}x)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--packets", type=int, default=12000)
    parser.add_argument("--per-frame", type=int, default=2)
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sockets", type=int, default=0, help="the event loop mode: this many publisher sockets")
    parser.add_argument("--rate", type=int, default=3000, help="--sockets: packets per second, all sockets")
    parser.add_argument("--seconds", type=float, default=5.0, help="--sockets: the measured window")
    parser.add_argument("--prepare", type=float, help="--sockets: protect this many seconds of packets up front")
    parser.add_argument("--only", choices=["both", "socket", "set"], default="both", help="--sockets: one path only")
    args = parser.parse_args()
    if _fastpath is None:
        sys.exit("media_server/_fastpath.c is not built")
    if args.sockets:
        await sockets_main(args)
        return
    loop = asyncio.get_running_loop()
    results: dict[str, list[float]] = {"python": [], "c": []}
    for _ in range(args.rounds):
        for name in ("python", "c"):
            path = Path_(name == "c", args.subscribers, loop)
            await path.add_slots()
            stream = packets(args.packets, args.per_frame, args.size)
            frames = [stream[i : i + args.per_frame] for i in range(0, len(stream), args.per_frame)]
            path.feed(frames[:50])  # the keyframe switch, the first packets, warm caches
            cpu = path.feed(frames[50:])
            incoming = len(stream) - 50 * args.per_frame
            results[name].append(cpu * 1e6 / incoming)
            assert path.track.packets == len(stream), f"{name}: {path.track.packets} of {len(stream)} received"
            assert all(slot.packets == len(stream) for slot in path.slots), f"{name}: a slot missed packets"
            path.close()
            await asyncio.sleep(0.05)
            time.sleep(0.05)
        print(f"  python {results['python'][-1]:6.2f} µs  c {results['c'][-1]:6.2f} µs per incoming packet", flush=True)
    py, c = statistics.median(results["python"]), statistics.median(results["c"])
    print(
        f"receive path, {args.subscribers} subscribers, {args.per_frame} packets per read, medians of {args.rounds}: "
        f"python {py:.2f} µs, c {c:.2f} µs per incoming packet ({py / c:.1f}x), "
        f"{py / args.subscribers:.2f} and {c / args.subscribers:.2f} µs per forwarded packet"
    )


if __name__ == "__main__":
    asyncio.run(main())
