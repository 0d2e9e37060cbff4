"""The channel layer alone: room events from one web process to the sockets of two, over Redis.

What a school morning's web processes do between Redis and their sockets, without Django, daphne
or a browser: two receiving processes hold the sockets of a few rooms (--rooms sizes, each room's
sockets dealt out over both, as two daphne processes behind nginx hold them), every socket waiting
on its channel as a consumer does; a third process sends group events to the rooms at --rate
events a second (a chat message, a hand, a page: each goes to every socket of its room). For each
layer, in one run and alternating (--reps), it prints:

- the delay of each delivery, from the sender's `group_send` to the socket's `receive`, p50/p99;
- deliveries lost (never received by the end of the step);
- CPU (user + system) of the receiving processes and of redis-server per thousand deliveries.

Layers: `queue` is channels-redis's `RedisChannelLayer` (a sorted set per process; a group send
stores one copy per socket; each process takes them back one at a time, with a backup queue:
four Redis commands per delivery); `pubsub` is what `REDIS_URL` configures
(`config.layers.RedisPubSubChannelLayer`: a group send is one PUBLISH; each process subscribed to
the group hands the message to its own sockets).

    .venv/bin/python bench/channel_layer.py                        # rooms 29 29 41, 50-400 events/s
    .venv/bin/python bench/channel_layer.py --rate 200 --reps 3    # one rate, three alternations
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYERS = {
    "queue": "channels_redis.core.RedisChannelLayer",
    "pubsub": "config.layers.RedisPubSubChannelLayer",
}


def make_layer(kind: str, url: str) -> Any:
    from django.utils.module_loading import import_string

    return import_string(LAYERS[kind])(hosts=[{"address": url}], capacity=1000)


def receiver(kind: str, url: str, rooms: list[int], part: int, parts: int, ready: Any, go: Any, out: Any) -> None:
    """Hold this process's share of every room's sockets; report each delivery's delay."""

    async def main() -> None:
        layer = make_layer(kind, url)
        delays: list[float] = []
        tasks = []

        async def socket(channel: str) -> None:
            while True:
                message = await layer.receive(channel)
                if message.get("stop"):
                    return
                delays.append(time.time() - message["sent"])

        for room, size in enumerate(rooms):
            for seat in range(size):
                if seat % parts != part:
                    continue
                channel = await layer.new_channel()
                await layer.group_add(f"room-{room}", channel)
                tasks.append(asyncio.create_task(socket(channel)))
        ready.set()
        await asyncio.to_thread(go.wait)
        before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.wait(tasks, timeout=120)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.put((delays, cpu, sum(1 for task in tasks if not task.done())))

    asyncio.run(main())


def sender(kind: str, url: str, rooms: list[int], rate: float, seconds: float) -> int:
    """Send `rate` events a second to the rooms in turn for `seconds`; return how many were sent."""

    async def main() -> int:
        layer = make_layer(kind, url)
        sent = 0
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                await layer.group_send(f"room-{sent % len(rooms)}", {"type": "room.event", "sent": time.time()})
                sent += 1
            await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
        await asyncio.sleep(1.0)  # what is still on its way arrives before the stop
        for room in range(len(rooms)):
            await layer.group_send(f"room-{room}", {"type": "room.stop", "stop": True})
        await asyncio.sleep(0.2)
        return sent

    return asyncio.run(main())


def redis_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step(kind: str, url: str, redis_pid: int, rooms: list[int], rate: float, seconds: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    parts = 2
    go = context.Event()
    out = context.Queue()
    readies = [context.Event() for _ in range(parts)]
    procs = [
        context.Process(target=receiver, args=(kind, url, rooms, part, parts, readies[part], go, out))
        for part in range(parts)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(60)
    time.sleep(0.5)
    redis_before = redis_cpu(redis_pid)
    go.set()
    sent = sender(kind, url, rooms, rate, seconds)
    results = [out.get(timeout=150) for _ in procs]
    redis_used = redis_cpu(redis_pid) - redis_before
    for proc in procs:
        proc.join(10)
    delays = sorted(d for result in results for d in result[0])
    expected = sum(
        size for room, size in enumerate(rooms) for _ in range(sent // len(rooms) + (room < sent % len(rooms)))
    )
    cpu = sum(result[1] for result in results)
    per_thousand = 1000 / max(1, len(delays))
    return {
        "layer": kind,
        "rate": rate,
        "deliveries": len(delays),
        "lost": expected - len(delays),
        "p50_ms": 1000 * delays[len(delays) // 2] if delays else float("nan"),
        "p99_ms": 1000 * delays[int(len(delays) * 0.99)] if delays else float("nan"),
        "max_ms": 1000 * delays[-1] if delays else float("nan"),
        "web_cpu_ms_per_1000": 1000 * cpu * per_thousand,
        "redis_cpu_ms_per_1000": 1000 * redis_used * per_thousand,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, nargs="+", default=[29, 29, 41], help="sockets per room")
    parser.add_argument("--rate", type=float, nargs="+", default=[50, 100, 200, 400], help="group events a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per step")
    parser.add_argument("--reps", type=int, default=1, help="alternations of the two layers per rate")
    parser.add_argument("--layers", nargs="+", default=["queue", "pubsub"], choices=sorted(LAYERS))
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
    from tests.services import start_redis

    redis = start_redis()
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print(f"{os.cpu_count()} CPUs, load average {load}; rooms {args.rooms} over 2 receiving processes")
        print("layer    events/s deliveries  lost  delay p50 / p99 / max ms   web CPU ms/1000  redis CPU ms/1000")
        for rate in args.rate:
            for _ in range(args.reps):
                for kind in args.layers:
                    r = step(kind, redis.url, redis.process.pid, args.rooms, rate, args.seconds)
                    print(
                        f"{r['layer']:8} {rate:8.0f} {r['deliveries']:10d} {r['lost']:5d}"
                        f"  {r['p50_ms']:8.1f} / {r['p99_ms']:7.1f} / {r['max_ms']:7.1f}"
                        f"   {r['web_cpu_ms_per_1000']:14.1f}  {r['redis_cpu_ms_per_1000']:16.1f}",
                        flush=True,
                    )
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print(f"load average after: {load}")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
