"""A media node's CPU per connection set up: what a join storm costs the server, per student.

Run inside the private network namespace (ICE ignores loopback):

    scripts/netns-run .venv/bin/python bench/join_cpu.py [--publishers 10] [--subscribers 30] [--rounds 3]
    ... --profile /tmp/join.prof      # cProfile of the node over the measured joins (costs CPU itself)

A MediaNode runs in a child process, driven by this one through a pipe with the benchmark's peers
(`bench/media/peers.py`: aiortc clients with real ICE and DTLS-SRTP). Per round, after a few
warm-up connections, --publishers peers publish a camera and a microphone (`media.offer`,
answer, connected) and then --subscribers peers join (`media.join`, the node's offer with its 3
audio and last-N + 3 video slots, the peer's answer, connected); no media flows, so what is
measured is the setup alone: SDP, transceivers, ICE gathering and checks, the DTLS handshake. The
node reports its own CPU time (`time.process_time`, every thread) over each phase; this prints ms
of node CPU per publish and per subscribe connection, each round and the medians. The peers run
in this process, one at a time, so the node is never starved by them and never busy with two.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOM = "bench"


def node_process(conn: Any, profile: str | None) -> None:
    """Host the MediaNode; answer "mark" with its CPU time so far (profiling between marks if asked)."""
    from bench.media.piped import piped_node

    logging.basicConfig(level=logging.ERROR)
    profiler = cProfile.Profile() if profile else None

    async def run() -> None:
        node, inbox = piped_node(conn)
        while True:
            item = await inbox.get()
            if item == "stop":
                await node.close_room(ROOM)
                return
            if isinstance(item, tuple) and item[0] == "mark":
                conn.send(("marked", {"cpu": time.process_time()}))
                if profiler is not None and item[1] == "start":
                    profiler.enable()
                elif profiler is not None and item[1] == "stop":
                    profiler.disable()
                continue
            if isinstance(item, tuple) and item[0] == "permit":
                await node.set_permissions(ROOM, item[1], audio=True, video=True, screen=True, always_forward=False)
                conn.send(("permitted", {}))
                continue
            peer, message = item
            try:
                await node.handle(ROOM, peer, message)
            except Exception as exc:
                print(f"{peer}: {exc!r}", file=sys.stderr, flush=True)

    asyncio.run(run())
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    conn.close()


async def drive(args: argparse.Namespace) -> list[tuple[float, float]]:
    """Run the rounds against a node in a child process; return (ms per publish, ms per subscribe) each."""
    from bench.media.packets import CAMERA, MIC
    from bench.media.peers import CountingSubscriber, RawPublisher, Stream, Window
    from bench.media.piped import PipedPeers

    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=node_process, args=(theirs, args.profile))
    child.start()
    piped = PipedPeers(ours)
    expect = piped.expect
    window = Window()
    peers: list[Any] = []
    names: list[str] = []
    count = 0

    async def publish() -> None:
        nonlocal count
        count += 1
        name = f"p{count}"
        names.append(name)
        ours.send(("permit", name))
        await expect("permitted")
        publisher = RawPublisher([Stream(1, "camera", CAMERA, 127), Stream(2, "microphone", MIC, 30)], window)
        peers.append(publisher)
        offer = await publisher.offer()
        tracks = [{"mid": s.mid, "source": s.source, "layer": "normal"} for s in publisher.streams]
        ours.send((name, {"type": "media.offer", "pc": "publish", "sdp": offer, "tracks": tracks}))
        await publisher.accept((await expect(name, "media.answer"))["sdp"], 30)

    async def subscribe() -> None:
        nonlocal count
        count += 1
        name = f"s{count}"
        names.append(name)
        subscriber = CountingSubscriber(window)
        peers.append(subscriber)
        ours.send((name, {"type": "media.join", "quality": "normal"}))
        answer = await subscriber.answer((await expect(name, "media.offer"))["sdp"])
        ours.send((name, {"type": "media.answer", "pc": "subscribe", "sdp": answer}))
        await subscriber.connected(30)

    async def mark(phase: str) -> float:
        ours.send(("mark", phase))
        return float((await expect("marked"))["cpu"])

    results = []
    for _ in range(args.warmup):
        await publish()
        await subscribe()
    # the warm-up peers stay for every round; each round's own leave after it
    warm = peers[:]
    peers.clear()
    names.clear()
    for _ in range(args.rounds):
        start = await mark("start")
        for _ in range(args.publishers):
            await publish()
        middle = await mark("keep")
        for _ in range(args.subscribers):
            await subscribe()
        end = await mark("stop")
        results.append(
            (
                (middle - start) * 1000 / max(args.publishers, 1),
                (end - middle) * 1000 / max(args.subscribers, 1),
            )
        )
        # the round's peers leave, so that the next round starts from the same room
        for name in names:
            ours.send((name, {"type": "media.leave"}))
        names.clear()
        for peer in peers:
            await peer.close()
        peers.clear()
        print(
            f"round {len(results)}: {results[-1][0]:.2f} ms per publish, {results[-1][1]:.2f} ms per subscribe",
            flush=True,
        )
    for peer in warm:
        await peer.close()
    ours.send("stop")
    piped.close()
    child.join(20)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publishers", type=int, default=10, help="publish connections per round (default 10)")
    parser.add_argument("--subscribers", type=int, default=30, help="subscribe connections per round (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="connections of each kind before the first round")
    parser.add_argument("--profile", help="write a cProfile of the node over the measured joins here")
    args = parser.parse_args()
    if os.environ.get("CV_IN_NETNS") != "1":
        parser.error("run it inside the private network namespace: scripts/netns-run .venv/bin/python " + sys.argv[0])
    results = asyncio.run(drive(args))
    publish = statistics.median(r[0] for r in results)
    subscribe = statistics.median(r[1] for r in results)
    print(
        f"node CPU per connection set up (median of {len(results)} rounds): publish {publish:.2f} ms, subscribe {subscribe:.2f} ms"
    )


if __name__ == "__main__":
    main()
