"""Server CPU per incoming RTP packet on a publisher's socket: the C receive path against Python's.

Run inside the private network namespace:

    scripts/netns-run .venv/bin/python bench/receive_cpu.py [--subscribers 4] [--packets 20000]

One publisher transport as media_server.publisher hooks it: real SRTP (AES-256-GCM) on a real UDP
socket, a real _Feedback (aiortc's statistics, NACK generator and REMB estimator), a track with
N subscriber slots sending through real SRTP sessions and sockets. Each round sends a frame's
packets to the socket and hands the first to the socket callback, as asyncio would; the callback
reads the rest. Prints CPU per incoming packet for each path, alternately, and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import struct
import sys
import time
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--packets", type=int, default=12000)
    parser.add_argument("--per-frame", type=int, default=2)
    parser.add_argument("--size", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if _fastpath is None:
        sys.exit("media_server/_fastpath.c is not built")
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
