"""Server CPU per forwarded RTP packet: one publisher, many subscribers.

Run inside the private network namespace:

    scripts/netns-run .venv/bin/python bench/forwarding_cpu.py [--end-to-end]

The default measures the forwarding path itself (Track.on_rtp -> Slot.forward -> Output.send:
header rewrite, retransmission buffer, SRTP, sendto) on real SRTP sessions and real UDP sockets.
--end-to-end also runs real aiortc peers (publisher and subscribers in a child process) and
divides the whole server process's CPU time by the packets it forwarded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import struct
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc.rtcdtlstransport import State
from pylibsrtp import Policy, Session

from media_server.forwarder import Output, Slot, Track

SINK = "10.99.0.2" if os.environ.get("CV_IN_NETNS") == "1" else "127.0.0.1"


def fake_dtls(sock_transport: Any, addr: tuple[str, int]) -> Any:
    """A connected DTLS transport as Output sees it: an SRTP session and a nominated pair."""
    policy = Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND)
    policy.allow_repeat_tx = True
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=sock_transport), remote_addr=addr)
    connection = SimpleNamespace(_nominated={1: pair})
    return SimpleNamespace(
        _tx_srtp=Session(policy), _state=State.CONNECTED, transport=SimpleNamespace(_connection=connection)
    )


def vp8_packets(count: int, size: int = 1100) -> list[bytes]:
    """Return a realistic stream: 1100-byte VP8 packets with abs-send-time, 30 fps, 5 per frame."""
    packets = []
    for i in range(count):
        start = i % 5 == 0
        descriptor = bytes([0x90 if start else 0x80, 0x80, 0x80 | (i // 5 >> 8 & 0x7F), i // 5 & 0xFF])
        frame_header = bytes([0x10 if i == 0 else 0x11]) if start else b""
        ext = struct.pack("!HH", 0xBEDE, 1) + bytes([0x22, 1, 2, 3])
        header = struct.pack("!BBHII", 0x90, (0x80 if i % 5 == 4 else 0) | 96, i & 0xFFFF, 3000 * (i // 5), 0x1234)
        payload = descriptor + frame_header
        packets.append(header + ext + payload + bytes(size - len(payload)))
    return packets


async def hot_path(subscribers: int, packets: list[bytes]) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((SINK, 0))
    addr = sink.getsockname()
    track = Track("alice", "camera", "normal", "video", {96: "video/VP8"})
    track.allowed = True
    transports = []
    for i in range(subscribers):
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(SINK, 0))
        transports.append(transport)
        slot = Slot("video", 0x5000 + i, Output(fake_dtls(transport, addr)))  # type: ignore[arg-type]
        slot.payload_types = {"video/VP8": 100}
        slot.attach(track)
    # warm up, then measure; the sink is never read: the kernel drops what overflows
    for n, packet in enumerate(packets[:200]):
        track.on_rtp(packet, n)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for n, packet in enumerate(packets[200:]):
        track.on_rtp(packet, n)
    after = resource.getrusage(resource.RUSAGE_SELF)
    for transport in transports:
        transport.close()
    sink.close()
    forwarded = (len(packets) - 200) * subscribers
    return (
        (after.ru_utime - before.ru_utime) * 1e6 / forwarded,
        (after.ru_stime - before.ru_stime) * 1e6 / forwarded,
    )


async def end_to_end(subscribers: int, seconds: float) -> tuple[float, int]:
    """Run the node here and real aiortc peers in a child process; return (us/packet, packets)."""
    from bench_peers import run_node  # type: ignore[import-not-found]

    return await run_node(subscribers, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, nargs="*", default=[1, 10, 40, 100])
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    packets = vp8_packets(args.packets)
    print(f"forwarding path (rewrite + retransmission buffer + SRTP + sendto to {SINK}), 1100-byte packets")
    for count in args.subscribers:
        user, system = min((asyncio.run(hot_path(count, packets)) for _ in range(3)), key=sum)
        print(
            f"  {count:4d} subscribers: {user + system:6.2f} us CPU per forwarded packet"
            f" ({user:5.2f} user: rewrite + SRTP; {system:5.2f} kernel: sendto)"
        )
    if args.end_to_end:
        sys.path.insert(0, str(Path(__file__).parent))
        print(f"end to end (real aiortc peers; whole server process CPU / forwarded packets, {args.seconds:.0f} s)")
        for count in args.subscribers:
            per_packet, forwarded = asyncio.run(end_to_end(count, args.seconds))
            print(f"  {count:4d} subscribers: {per_packet:6.2f} us CPU per forwarded packet ({forwarded} packets)")


if __name__ == "__main__":
    main()
