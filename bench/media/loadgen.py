"""A load-generator worker process: its share of publishers and subscribers, driven by the runner.

The runner writes one JSON command per line on stdin and reads one JSON reply per line on stdout.
Every wait is bounded; the worker exits when stdin closes or after --lifetime seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from .janus import Janus
from .packets import CAMERA, LOW_CAMERA, MIC, SCREEN, Profile
from .peers import NATIVE, CountingSubscriber, RawPublisher, Stream, Window

PROFILES: dict[str, Profile] = {"camera": CAMERA, "screen": SCREEN, "mic": MIC, "low_camera": LOW_CAMERA}
CONNECT_S = 30.0
PARALLEL = 8


class Ours:
    """The generator's end of bench/media/sfu_server.py's JSON-lines signalling."""

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.inbox: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while line := await self.reader.readline():
            message = json.loads(line)
            if message["op"] == "error":
                print(f"forwarder error for {message['peer']}: {message['message']}", file=sys.stderr)
            elif message["op"] == "media":
                self.queue(message["peer"]).put_nowait(message["msg"])

    def queue(self, peer: str) -> asyncio.Queue[dict[str, Any]]:
        return self.inbox.setdefault(peer, asyncio.Queue())

    async def send(self, request: dict[str, Any]) -> None:
        self.writer.write((json.dumps(request) + "\n").encode())
        await self.writer.drain()

    async def expect(self, peer: str, type_: str) -> dict[str, Any]:
        async with asyncio.timeout(CONNECT_S):
            while True:
                message = await self.queue(peer).get()
                if message["type"] == type_:
                    return message


class Worker:
    """The peers of one generator process."""

    def __init__(self) -> None:
        self.window = Window()
        self.publishers: list[RawPublisher] = []
        self.subscribers: dict[str, CountingSubscriber] = {}
        self.room = "bench"
        self.janus_room = 1234

    async def connect(self, target: str, port: int) -> None:
        self.target = target
        if target == "janus":
            self.janus = Janus(f"ws://127.0.0.1:{port}")
            await self.janus.connect()
        else:
            self.ours = Ours()
            await self.ours.connect(port)

    async def publish(self, spec: dict[str, Any], stop_at: float) -> None:
        streams = [Stream(s["id"], s["source"], PROFILES[s["profile"]], s["level"]) for s in spec["streams"]]
        publisher = RawPublisher(streams, self.window)
        self.publishers.append(publisher)
        offer = await publisher.offer()
        name = spec["name"]
        if self.target == "janus":
            answer = await self.janus.publish(self.janus_room, spec["feed"], offer)
        else:
            sources = {s.source for s in streams}
            await self.ours.send(
                {
                    "op": "allow",
                    "room": spec.get("room", self.room),
                    "peer": name,
                    "audio": "microphone" in sources,
                    "video": "camera" in sources,
                    "screen": "screen" in sources,
                    "always": spec.get("always", False),
                }
            )
            tracks = [{"mid": s.mid, "source": s.source, "layer": "normal"} for s in streams]
            await self.ours.send(
                {
                    "op": "media",
                    "room": spec.get("room", self.room),
                    "peer": name,
                    "msg": {"type": "media.offer", "pc": "publish", "sdp": offer, "tracks": tracks},
                }
            )
            answer = (await self.ours.expect(name, "media.answer"))["sdp"]
        await publisher.accept(answer, CONNECT_S)
        loop = asyncio.get_running_loop()
        publisher.start(loop.time() + stop_at)

    async def subscribe(self, spec: dict[str, Any]) -> None:
        name = spec["name"]
        subscriber = self.subscribers[name] = CountingSubscriber(self.window)
        if self.target == "janus":
            handle, offer = await self.janus.subscribe(self.janus_room, spec["janus"])
            answer = await subscriber.answer(offer)
            await self.janus.start(handle, answer)
        else:
            if self.target == "echo":
                await self.ours.send({"op": "echo", "peer": name, "rate": spec["rate"], "seconds": spec["seconds"]})
            else:
                await self.ours.send(
                    {"op": "media", "room": spec.get("room", self.room), "peer": name, "msg": {"type": "media.join"}}
                )
            offer = (await self.ours.expect(name, "media.offer"))["sdp"]
            answer = await subscriber.answer(offer)
            await self.ours.send(
                {
                    "op": "media",
                    "room": spec.get("room", self.room),
                    "peer": name,
                    "msg": {"type": "media.answer", "pc": "subscribe", "sdp": answer},
                }
            )
        await subscriber.connected(CONNECT_S)

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command["cmd"]
        if cmd == "connect":
            await self.connect(command["target"], command["port"])
            if command["target"] == "janus" and command.get("create_room"):
                await self.janus.create_room(self.janus_room, command["create_room"])
        elif cmd == "publish":
            await _bounded(self.publish(p, command["seconds"]) for p in command["publishers"])
        elif cmd == "subscribe":
            await _bounded(self.subscribe(s) for s in command["subscribers"])
        elif cmd == "ready":
            # name -> (candidate streams, how many of them must flow): any of a last-N will do
            missing = [
                name
                for name, (streams, required) in command["expect"].items()
                if len(set(streams) & set(self.subscribers[name].counts)) < required
            ]
            return {"missing": missing}
        elif cmd == "window":
            self.window.set(command["t0"], command["t1"])
        elif cmd == "report":
            delays = sorted(self.window.all_delays_us())
            step = max(len(delays) // 20000, 1)
            native = self.window.native
            return {
                "received": {n: s.window_counts for n, s in self.subscribers.items()},
                "sent": self.window.sent,
                "delays_us": delays[::step],
                "delay_count": len(delays),
                "receive_path": "c" if NATIVE else "python",
                "reader": native.reader.stats() if native is not None else None,
            }
        return {}


async def _bounded(coroutines: Any) -> None:
    semaphore = asyncio.Semaphore(PARALLEL)

    async def one(coroutine: Any) -> None:
        async with semaphore:
            await coroutine

    await asyncio.gather(*(one(c) for c in coroutines))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=900)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    worker = Worker()
    loop = asyncio.get_running_loop()
    # a large discussion's commands (each subscriber's Janus streams and candidates) pass 64 KiB
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with asyncio.timeout(args.lifetime):
        while line := await reader.readline():
            command = json.loads(line)
            if command["cmd"] == "close":
                break
            try:
                reply = await worker.run(command)
                reply["ok"] = True
            except Exception as exc:  # the runner reports it and stops the run
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
