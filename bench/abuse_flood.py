"""Benchmark a flood: while students send pings as fast as they can, how fast is the teacher served?

One daphne process (the embedded default: SQLite, in-memory channel layer), pinned to CPU 0; the
clients run in this process, pinned to the other CPUs. A lesson with a teacher and --flooders
students; each flooder socket sends `ping` frames as fast as it can (as a browser console's
`for (;;) ws.send(...)` would) and opens a new socket whenever the server closes one. Meanwhile
the teacher pings every 100 ms and a thread loads the room page every 100 ms with the teacher's
session. The flooders run in a process of their own (a flooder's `send` loop never yields while its
buffers take more, so in the teacher's event loop it would starve the teacher's own pings: the
teacher is another computer). Printed: the teacher's ping round trip and page load p50/p99/max, answered pings, frames
the flooders sent, the close codes they got, and the server's CPU.

    .venv/bin/python bench/abuse_flood.py                     # this tree, 5 flooders, 10 s
    .venv/bin/python bench/abuse_flood.py --server-root /tmp/before   # another checkout's server
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import itertools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.room_fanout import cpu_seconds, daphnes, percentile, start_lesson  # noqa: E402

PING_EVERY = 0.1
PAGE_EVERY = 0.1
UNANSWERED_AFTER = 10.0


def prepare(tmp: Path, server_root: Path, env: dict[str, str]) -> None:
    """A generated class, migrated and synced with the server tree's own code."""
    ldif = tmp / "school.ldif"
    subprocess.run(
        [sys.executable, "scripts/gen_directory.py", "--students", "10", "--classes", "1",
         "--teachers", "1", "--no-passwords", "-o", str(ldif)],
        cwd=ROOT, check=True,
    )  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=server_root, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "sync_directory"], cwd=server_root, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


async def flooder(port: int, room: str, session: str, stop: Any, stats: dict[str, Any]) -> None:
    """Send pings as fast as the socket takes them; reconnect whenever the server closes it."""
    url = f"ws://127.0.0.1:{port}/ws/rooms/{room}/"
    frame = json.dumps({"type": "ping", "ref": 1})
    while not stop.is_set():
        try:
            async with websockets.connect(
                url, origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
                additional_headers={"Cookie": f"sessionid={session}"}, ping_interval=None, max_size=None,
                open_timeout=30,
            ) as ws:  # fmt: skip
                stats["sockets"] += 1

                async def drain(ws: Any = ws) -> None:
                    async for _ in ws:
                        pass

                reader = asyncio.create_task(drain())
                try:
                    while not stop.is_set():
                        await ws.send(frame)
                        stats["frames"] += 1
                finally:
                    reader.cancel()
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            stats["closes"][code] += 1
        except (OSError, TimeoutError) as error:
            stats["closes"][type(error).__name__] += 1
            await asyncio.sleep(0.05)


async def teacher_pings(port: int, room: str, session: str, duration: float) -> tuple[list[float], int, int]:
    """Ping every PING_EVERY seconds; return round trips (ms), pings sent and pings unanswered."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/rooms/{room}/", origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={session}"}, ping_interval=None, max_size=None,
        open_timeout=60,
    )  # fmt: skip
    sent: dict[int, float] = {}
    rtts: list[float] = []

    async def read() -> None:
        async for raw in ws:
            if raw.startswith('{"type": "ok"'):
                ref = json.loads(raw).get("ref")
                if ref in sent:
                    rtts.append((time.perf_counter() - sent.pop(ref)) * 1000)

    reader = asyncio.create_task(read())
    refs = itertools.count(1)
    end = time.perf_counter() + duration
    count = 0
    while time.perf_counter() < end:
        ref = next(refs)
        sent[ref] = time.perf_counter()
        await ws.send(json.dumps({"type": "ping", "ref": ref}))
        count += 1
        await asyncio.sleep(PING_EVERY)
    await asyncio.sleep(min(UNANSWERED_AFTER, 2.0))
    reader.cancel()
    await ws.close()
    return rtts, count, len(sent)


def page_loads(port: int, room: str, session: str, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", f"/rooms/{room}/", headers={"Cookie": f"sessionid={session}", "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                out.append((time.perf_counter() - start) * 1000)
        except OSError:
            pass
        stop.wait(PAGE_EVERY)


def flood_process(port: int, room: str, sessions: list[str], stop: Any, results: Any) -> None:
    """The flooders, in a process of their own; their counts go back through `results` when `stop` is set."""
    stats: dict[str, Any] = {"frames": 0, "sockets": 0, "closes": collections.Counter()}
    started = time.perf_counter()

    async def main() -> None:
        tasks = [asyncio.create_task(flooder(port, room, session, stop, stats)) for session in sessions]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    if sessions:
        asyncio.run(main())
    else:
        stop.wait()
    results.put({**stats, "closes": dict(stats["closes"]), "seconds": time.perf_counter() - started})


async def run(port: int, pid: int, lesson: Any, flooders: int, duration: float) -> dict[str, Any]:
    stop = multiprocessing.Event()
    results: Any = multiprocessing.Queue()
    flood = multiprocessing.Process(
        target=flood_process, args=(port, lesson.room, lesson.students[:flooders], stop, results)
    )
    flood.start()
    await asyncio.sleep(1.0)  # the flood is on
    cpu0 = cpu_seconds(pid)
    pages: list[float] = []
    page_stop = threading.Event()
    pager = threading.Thread(target=page_loads, args=(port, lesson.room, lesson.teacher, page_stop, pages))
    pager.start()
    rtts, sent, unanswered = await teacher_pings(port, lesson.room, lesson.teacher, duration)
    cpu = cpu_seconds(pid) - cpu0
    page_stop.set()
    stop.set()
    await asyncio.to_thread(pager.join)
    stats = await asyncio.to_thread(results.get, True, 30)
    await asyncio.to_thread(flood.join, 30)
    return {
        "rtts": rtts, "sent": sent, "unanswered": unanswered, "pages": pages,
        "frames": stats["frames"], "flood_seconds": stats["seconds"], "sockets": stats["sockets"],
        "closes": stats["closes"], "cpu": cpu,
    }  # fmt: skip


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    return f"p50 {percentile(values, 50):.1f}  p99 {percentile(values, 99):.1f}  max {max(values):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flooders", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--server-root", type=Path, default=ROOT, help="the checkout whose server runs")
    args = parser.parse_args()
    if not 0 <= args.flooders <= 10 or not 1 <= args.seconds <= 120:
        parser.error("0-10 flooders, 1-120 seconds")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cpus = sorted(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="cv-bench-flood-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LDAP_URI", "DATABASE_URL")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "bench-abuse-flood",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LDAP_URI": "",
        "LOG_LEVEL": "ERROR",
        "DATABASE_URL": f"sqlite:///{tmp / 'flood.sqlite3'}",
        "DIRECTORY_LDIF": str(tmp / "school.ldif"),
    }
    prepare(tmp, args.server_root.resolve(), env)
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DATABASE_URL",
                                           "LDAP_URI", "DIRECTORY_LDIF")})  # fmt: skip
    import django

    django.setup()
    lesson = start_lesson(args.flooders)
    import bench.room_fanout as fanout

    fanout.ROOT = args.server_root.resolve()  # daphnes() runs the server from this tree
    with daphnes(1, env) as (ports, procs):
        if len(cpus) > 1:
            os.sched_setaffinity(procs[0].pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))
        result = asyncio.run(run(ports[0], procs[0].pid, lesson, args.flooders, args.seconds))
    print(f"server {args.server_root}: {len(cpus)} CPUs (server on CPU {cpus[0]}, clients on the rest); "
          f"{args.flooders} flooders, {args.seconds:.0f} s")  # fmt: skip
    print(f"teacher ping   {summary(result['rtts'])}; {result['sent'] - result['unanswered']}/{result['sent']} "
          f"answered")  # fmt: skip
    print(f"page load      {summary(result['pages'])}; {len(result['pages'])} loads")
    print(f"flooders sent  {result['frames']} frames ({result['frames'] / result['flood_seconds']:.0f}/s) on "
          f"{result['sockets']} sockets; closes {result['closes']}")  # fmt: skip
    print(f"server CPU     {result['cpu']:.1f} s over {args.seconds:.0f} s")


if __name__ == "__main__":
    main()
