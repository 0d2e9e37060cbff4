"""Host our forwarder (a media_server.MediaNode) in its own process, for the benchmark.

Signalling is JSON lines over TCP on 127.0.0.1, one connection per load-generator worker:
  {"op": "media", "room", "peer", "msg"}   a media.* message from a peer
  {"op": "allow", "room", "peer", "audio", "video", "screen", "always"}
  {"op": "stats"}                           answered with {"op": "stats", "stats"}
and back: {"op": "media", "peer", "msg"} and {"op": "error", "peer", "message"}.

With --echo it hosts no forwarder: {"op": "echo", "peer", "rate", "seconds"} gets a plain
sending connection (offer and answer as media.* messages) for stamped packets at a rate, the
generator's own ceiling with nothing in between. Nothing is sent until {"op": "start"} (answered
{"op": "started", "streams"}), once every subscriber is connected: a stream that started as soon
as its own peer connected would load both cores while later peers still do ICE and DTLS.
{"op": "window", "t0", "t1"} sets the steady window and {"op": "sent"} is answered with
{"op": "sent", "sent", "sender"}: the packets stamped inside the window that the sockets took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiortc import RTCSessionDescription

from media_server import MediaError, MediaNode, seam, tune_collector
from media_server.forwarding import Output

from .packets import MAX_CHUNK, stamp
from .peers import SilentTrack, Window, libsrtp_function, new_pc, srtp_address, wait_connected

try:
    from . import _genfast
except ImportError:
    _genfast = None  # type: ignore[assignment]

BODY = b"\x80\x80\x00\x00" + bytes(MAX_CHUNK)

MAX_SECONDS = 600


@dataclass
class EchoStream:
    """One echo peer: where its packets go and how far its schedule got."""

    output: Any
    index: int
    ssrc: int
    pt: int
    stream: int
    rate: float
    seq: int = 0
    scheduled: int = 0


class Server:
    """One MediaNode and the generator connections that speak for its peers."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        # as the application's processes do
        tune_collector()
        self.node = MediaNode(self._send)
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.echo_pcs: dict[str, Any] = {}
        self.echo_streams: list[EchoStream] = []
        self.echo_connecting: set[asyncio.Task[None]] = set()
        self.echo_seconds = 0.0
        # BENCH_GENERATOR_C=0 picks the generator's Python receive path, not a slower echo sender
        self.sender = _genfast.Sender(libsrtp_function("srtp_protect")) if _genfast is not None else None
        self.window = Window()
        self.tasks: set[asyncio.Task[None]] = set()

    async def _send(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        writer = self.writers.get(peer_id)
        if writer is not None:
            writer.write((json.dumps({"op": "media", "peer": peer_id, "msg": message}) + "\n").encode())

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            op = request["op"]
            peer = request.get("peer", "")
            if peer:
                self.writers[peer] = writer
            try:
                if op == "media" and self.echo:
                    await self._echo_answer(peer, request["msg"])
                elif op == "media":
                    await self.node.handle(request["room"], peer, request["msg"])
                elif op == "allow":
                    await self.node.set_permissions(
                        request["room"],
                        peer,
                        audio=request["audio"],
                        video=request["video"],
                        screen=request["screen"],
                        always_forward=request["always"],
                    )
                elif op == "stats":
                    writer.write((json.dumps({"op": "stats", "stats": self.node.stats()}) + "\n").encode())
                elif op == "echo":
                    await self._echo_offer(peer, float(request["rate"]), float(request["seconds"]))
                elif op == "start":
                    # the generator saw its side connect; wait for this side of each (bounded)
                    if self.echo_connecting:
                        await asyncio.wait(self.echo_connecting, timeout=20)
                    self._spawn(self._pace(self.echo_seconds))
                    writer.write((json.dumps({"op": "started", "streams": len(self.echo_streams)}) + "\n").encode())
                elif op == "window":
                    self.window.t0, self.window.t1 = request["t0"], request["t1"]
                    if self.sender is not None:
                        self.sender.set_window(request["t0"], request["t1"])
                elif op == "sent":
                    sent = (
                        self.sender.stats()["in_window"] if self.sender is not None else sum(self.window.sent.values())
                    )
                    reply = {
                        "op": "sent",
                        "sent": sent,
                        "sender": "c" if self.sender is not None else "python",
                        "sender_stats": self.sender.stats() if self.sender is not None else None,
                    }
                    writer.write((json.dumps(reply) + "\n").encode())
            except MediaError as exc:
                writer.write((json.dumps({"op": "error", "peer": peer, "message": exc.message}) + "\n").encode())
            await writer.drain()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _echo_offer(self, peer: str, rate: float, seconds: float) -> None:
        pc = new_pc()
        transceiver = pc.addTransceiver(SilentTrack("video"), direction="sendonly")  # type: ignore[arg-type]
        await pc.setLocalDescription(await pc.createOffer())
        self.echo_pcs[peer] = (pc, transceiver, rate)
        self.echo_seconds = max(self.echo_seconds, min(seconds, MAX_SECONDS))
        await self._send("", peer, {"type": "media.offer", "pc": "subscribe", "sdp": pc.localDescription.sdp})

    async def _echo_answer(self, peer: str, message: dict[str, Any]) -> None:
        pc, transceiver, rate = self.echo_pcs[peer]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
        # other peers' answers are read while this one connects
        task = asyncio.ensure_future(self._echo_connected(peer, pc, transceiver, rate))
        self.echo_connecting.add(task)
        task.add_done_callback(self.echo_connecting.discard)

    async def _echo_connected(self, peer: str, pc: Any, transceiver: Any, rate: float) -> None:
        try:
            await wait_connected(pc, 20)
        except (TimeoutError, ConnectionError) as exc:
            print(f"echo peer {peer} did not connect: {exc!r}", file=sys.stderr, flush=True)
            return
        dtls = transceiver.sender.transport
        stream = EchoStream(
            Output(dtls),
            -1,
            seam.sender_ssrc(transceiver.sender),
            seam.codecs(transceiver)[0].payloadType,
            int(peer.rsplit("-", 1)[-1]),
            rate,
        )
        session = seam.tx_session(dtls)
        if self.sender is not None and session is not None:
            pair = seam.nominated_pairs(dtls)[1]
            fd = pair.protocol.transport.get_extra_info("socket").fileno()
            host, port = pair.remote_addr
            stream.index = self.sender.add(
                fd, srtp_address(session), host, port, stream.ssrc, stream.pt, stream.stream, rate
            )
        self.echo_streams.append(stream)

    async def _pace(self, seconds: float) -> None:
        """Send every echo stream at its rate, never catching up in a burst."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        slowest = min((s.rate for s in self.echo_streams), default=1000.0)
        # a tick long enough for about 32 packets per stream (one GSO send each), 1 to 20 ms
        tick = min(max(32 / slowest, 0.001), 0.02)
        ticks = 0
        while (now := loop.time()) < start + seconds:
            ticks += 1
            if self.sender is not None:
                self.sender.tick(now - start)
            else:
                for s in self.echo_streams:
                    due = int((now - start) * s.rate)
                    # behind by more than 60 ms (a stalled loop): those packets are not sent at all
                    count = min(due - s.scheduled, int(s.rate * 0.06) + 1)
                    s.scheduled = due
                    if count > 0:
                        self._send_python(s, count)
            # the next tick on the schedule: a slow tick shortens the wait instead of adding to it
            await asyncio.sleep(max(start + ticks * tick - loop.time(), 0))

    def _send_python(self, s: EchoStream, count: int) -> None:
        window = self.window
        for _ in range(count):
            s.seq += 1
            sent_ns = time.monotonic_ns()
            s.output.send(0x80, s.pt, s.seq & 0xFFFF, s.seq * 3000, s.ssrc, BODY + stamp(s.stream, s.seq, sent_ns))
            if window.t0 <= sent_ns < window.t1:
                window.sent[0] = window.sent.get(0, 0) + 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--lifetime", type=float, default=1800, help="exit after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = Server(args.echo)
    tcp = await asyncio.start_server(server.serve, "127.0.0.1", args.port)
    print("ready", flush=True)
    profile = os.environ.get("BENCH_SERVER_PROFILE")
    async with tcp:
        if not profile:
            await asyncio.sleep(args.lifetime)
            return
        # a cProfile of the forwarder, written every 2 s (the runner ends this process with a signal)
        import cProfile

        # BENCH_SERVER_PROFILE_AFTER: seconds to let the peers connect before profiling
        await asyncio.sleep(float(os.environ.get("BENCH_SERVER_PROFILE_AFTER", "0")))
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(int(args.lifetime / 2)):
            await asyncio.sleep(2)
            profiler.dump_stats(f"{profile}.{'echo' if args.echo else 'node'}.{os.getpid()}")
            profiler.enable()  # dump_stats() stops the profiler


if __name__ == "__main__":
    # BENCH_LOOP=uvloop: the loop `python -m media_server` runs on when uvloop is installed
    if os.environ.get("BENCH_LOOP") == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
