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
import cProfile
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

from media_server.forwarding import Output, Slot, Track

SINK = "10.99.0.2" if os.environ.get("CV_IN_NETNS") == "1" else "127.0.0.1"


PROFILES = {
    # aiortc offers these, best first; browsers accept the GCM ones
    "aes256gcm": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
    "aes128gcm": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    "aes128cm-sha1-80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
}


def fake_dtls(sock_transport: Any, addr: tuple[str, int], profile: str) -> Any:
    """A connected DTLS transport as Output sees it: an SRTP session and a nominated pair."""
    libsrtp_profile, key_length = PROFILES[profile]
    policy = Policy(key=os.urandom(key_length), ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=libsrtp_profile)
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


async def hot_path(subscribers: int, packets: list[bytes], profile: str) -> tuple[float, float]:
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
        slot = Slot("video", 0x5000 + i, Output(fake_dtls(transport, addr, profile)))  # type: ignore[arg-type]
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


def node_process(conn: Any, subscribers: int, seconds: float) -> None:
    """Host the MediaNode in its own process, so that its CPU time is the server's alone."""
    from bench.media.piped import piped_node

    async def run() -> None:
        node, inbox = piped_node(conn)
        await node.set_permissions("bench", "publisher", audio=True, video=True, screen=True)
        measuring: tuple[Any, int] | None = None
        profile = os.environ.get("BENCH_PROFILE")
        profiler = cProfile.Profile() if profile else None
        while True:
            item = await inbox.get()
            if item == "start":
                measuring = (resource.getrusage(resource.RUSAGE_SELF), node.stats()["forwarded_packets"])
                if profiler is not None:
                    profiler.enable()
            elif item == "stop":
                assert measuring is not None
                after = resource.getrusage(resource.RUSAGE_SELF)
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(profile)
                forwarded = node.stats()["forwarded_packets"] - measuring[1]
                user = after.ru_utime - measuring[0].ru_utime
                system = after.ru_stime - measuring[0].ru_stime
                conn.send(("result", {"user": user, "system": system, "forwarded": forwarded}))
                await node.close_room("bench")
                return
            else:
                peer, message = item
                await node.handle("bench", peer, message)

    asyncio.run(run())


async def end_to_end(subscribers: int, seconds: float) -> tuple[float, float, int]:
    """Run real aiortc peers here against a node in a child process.

    Return user and kernel microseconds per forwarded packet, and the packets forwarded.
    """
    import multiprocessing

    import aiortc.codecs.vpx
    import aiortc.rtcrtpreceiver
    from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
    from av import VideoFrame

    class NoiseTrack(VideoStreamTrack):
        """A 640x360 camera filming noise, which no encoder can squeeze."""

        async def recv(self) -> VideoFrame:
            pts, time_base = await self.next_timestamp()
            frame = VideoFrame(640, 360, "yuv420p")
            for plane in frame.planes:
                plane.update(os.urandom(plane.buffer_size))
            frame.pts = pts
            frame.time_base = time_base
            return frame

    async def discard(self: Any, packet: Any, arrival_time_ms: int) -> None:
        """Subscribers here only receive: decoding would starve the machine, not the server."""

    aiortc.rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet = discard  # type: ignore[method-assign]
    # a camera at 2.5 Mbit/s: about 280 packets per second of noise-like picture
    aiortc.codecs.vpx.DEFAULT_BITRATE = aiortc.codecs.vpx.MAX_BITRATE = 2_500_000
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=node_process, args=(theirs, subscribers, seconds))
    child.start()
    loop = asyncio.get_running_loop()
    inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
    result: asyncio.Future[dict[str, float]] = loop.create_future()

    def on_message() -> None:
        peer, message = ours.recv()
        if peer == "result":
            result.set_result(message)
        else:
            inboxes[peer].put_nowait(message)

    loop.add_reader(ours.fileno(), on_message)
    config = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    pcs: list[RTCPeerConnection] = []

    async def expect(peer: str, type_: str) -> dict[str, Any]:
        while True:
            message = await inboxes[peer].get()
            if message["type"] == type_:
                return message

    inboxes["publisher"] = asyncio.Queue()
    publisher = RTCPeerConnection(config)
    pcs.append(publisher)
    transceiver = publisher.addTransceiver(NoiseTrack(), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    ours.send(
        (
            "publisher",
            {
                "type": "media.offer",
                "pc": "publish",
                "sdp": publisher.localDescription.sdp,
                "tracks": [{"mid": transceiver.mid, "source": "camera"}],
            },
        )
    )
    answer = await expect("publisher", "media.answer")
    await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    for i in range(subscribers):
        peer = f"s{i}"
        inboxes[peer] = asyncio.Queue()
        ours.send((peer, {"type": "media.join", "quality": "normal"}))
        offer = await expect(peer, "media.offer")
        pc = RTCPeerConnection(config)
        pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        ours.send((peer, {"type": "media.answer", "pc": "subscribe", "sdp": pc.localDescription.sdp}))
    await asyncio.sleep(3)  # connections up, keyframes sent
    ours.send("start")
    await asyncio.sleep(seconds)
    ours.send("stop")
    outcome = await result
    loop.remove_reader(ours.fileno())
    for pc in pcs:
        await pc.close()
    child.join(10)
    forwarded = max(int(outcome["forwarded"]), 1)
    return outcome["user"] * 1e6 / forwarded, outcome["system"] * 1e6 / forwarded, forwarded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, nargs="*", default=[1, 10, 40, 100])
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="aes256gcm")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    packets = vp8_packets(args.packets)
    print(
        f"forwarding path (rewrite + retransmission buffer + SRTP {args.profile} + sendto to {SINK}), 1100-byte packets"
    )
    for count in args.subscribers:
        user, system = min((asyncio.run(hot_path(count, packets, args.profile)) for _ in range(3)), key=sum)
        print(
            f"  {count:4d} subscribers: {user + system:6.2f} us CPU per forwarded packet"
            f" ({user:5.2f} user: rewrite + SRTP; {system:5.2f} kernel: sendto)"
        )
    if args.end_to_end:
        sys.path.insert(0, str(Path(__file__).parent))
        print(f"end to end (real aiortc peers; whole server process CPU / forwarded packets, {args.seconds:.0f} s)")
        for count in args.subscribers:
            user, system, forwarded = asyncio.run(end_to_end(count, args.seconds))
            print(
                f"  {count:4d} subscribers: {user + system:6.2f} us CPU per forwarded packet"
                f" ({user:5.2f} user, {system:5.2f} kernel; {forwarded} packets)"
            )


if __name__ == "__main__":
    main()
