"""Host our forwarder (a media_server.MediaNode) in its own process, for the benchmark.

Signalling is JSON lines over TCP on 127.0.0.1, one connection per load-generator worker:
  {"op": "media", "room", "peer", "msg"}   a media.* message from a peer
  {"op": "allow", "room", "peer", "audio", "video", "screen", "always"}
  {"op": "stats"}                           answered with {"op": "stats", "stats"}
and back: {"op": "media", "peer", "msg"} and {"op": "error", "peer", "message"}.

With --echo it hosts no forwarder: {"op": "echo", "peer", "rate", "seconds"} gets a plain
sending connection (offer and answer as media.* messages) that blasts stamped packets at a rate,
the generator's own ceiling with nothing in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from typing import Any

from media_server import MediaError, MediaNode

from .packets import MAX_CHUNK, stamp
from .peers import new_pc, wait_connected

MAX_SECONDS = 600


class Server:
    """One MediaNode and the generator connections that speak for its peers."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.node = MediaNode(self._send)
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.echo_pcs: dict[str, Any] = {}
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
            except MediaError as exc:
                writer.write((json.dumps({"op": "error", "peer": peer, "message": exc.message}) + "\n").encode())
            await writer.drain()

    async def _echo_offer(self, peer: str, rate: float, seconds: float) -> None:
        from media_server.forwarder import SilentTrack

        pc = new_pc()
        transceiver = pc.addTransceiver(SilentTrack("video"), direction="sendonly")  # type: ignore[arg-type]
        await pc.setLocalDescription(await pc.createOffer())
        self.echo_pcs[peer] = (pc, transceiver, rate, min(seconds, MAX_SECONDS))
        await self._send("", peer, {"type": "media.offer", "pc": "subscribe", "sdp": pc.localDescription.sdp})

    async def _echo_answer(self, peer: str, message: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription

        from media_server.forwarder import Output

        pc, transceiver, rate, seconds = self.echo_pcs[peer]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
        await wait_connected(pc, 20)
        output = Output(transceiver.sender.transport)
        task = asyncio.ensure_future(
            _blast(
                output,
                transceiver.sender._ssrc,
                transceiver._codecs[0].payloadType,
                int(peer.rsplit("-", 1)[-1]),
                rate,
                seconds,
            )
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def _blast(output: Any, ssrc: int, pt: int, stream: int, rate: float, seconds: float) -> None:
    """Send stamped 1100-byte packets at a steady rate, in bursts every 10 ms."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    body = b"\x80\x80\x00\x00" + bytes(MAX_CHUNK)
    seq = 0
    tick = 0.01
    sent = 0.0
    while (now := loop.time()) < start + seconds:
        due = (now - start) * rate
        while sent < due:
            seq += 1
            output.send(0x80, pt, seq & 0xFFFF, seq * 3000, ssrc, body + stamp(stream, seq, time.monotonic_ns()))
            sent += 1
        await asyncio.sleep(tick)


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
    async with tcp:
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    asyncio.run(main())
