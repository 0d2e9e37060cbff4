"""Benchmark drawing's fan-out: a teacher's fast hand on the whiteboard reaching 40 and 200 students.

One daphne process on a SQLite file (the embedded default) or, with --setups redis, two on Redis.
The teacher opens the whiteboard and draws one long stroke as the page does: `annotation.add`
(final false), then an `annotation.extend` batch every 60 ms of the points a fast hand makes
(--points-per-second, default 120), for --seconds. For each class size it prints
  - points and batches a second that the teacher sends, and frames a second the server sends out;
  - server to screen: from a batch leaving the teacher's socket to its `annotation.extended`
    reaching each student, p50/p99 over every delivery;
  - pen to screen: the same plus the wait in the page's 60 ms batch (each point waits from when it
    was drawn to when its batch leaves: on average half a batch), p50/p99 per point;
  - server CPU (utime+stime of the daphne processes) per second of drawing, and the client's.
Schema and sessions as bench/room_fanout.py (whose helpers this reuses).

    .venv/bin/python bench/annotations.py                 # 40 and 200 students, embedded
    .venv/bin/python bench/annotations.py --students 40 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.room_fanout import cpu_seconds, daphnes, percentile, school, start_lesson

BATCH_S = 0.060


async def measure(ports: list[int], lesson: Any, pids: list[int], seconds: float, rate: float) -> dict[str, float]:
    async def connect(port: int, session: str) -> Any:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/rooms/{lesson.room}/",
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=60,
            ping_interval=None,
            max_size=None,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert first["type"] == "state", first
        return ws

    teacher = await connect(ports[0], lesson.teacher)
    students = [await connect(ports[i % len(ports)], s) for i, s in enumerate(lesson.students)]
    await teacher.send(json.dumps({"type": "board.open", "ref": 1}))
    sent: dict[float, float] = {}  # the batch's first x -> when it left
    arrivals: list[tuple[float, float]] = []  # (first x, arrival)
    frames_out = 0

    async def read(ws: Any) -> None:
        nonlocal frames_out
        try:
            async for raw in ws:
                frames_out += 1
                if raw.startswith('{"type": "annotation.extended"'):
                    event = json.loads(raw)
                    if event["points"]:
                        arrivals.append((event["points"][0][0], time.perf_counter()))
        except websockets.ConnectionClosed:
            pass

    async def drain(ws: Any) -> None:
        try:
            async for _raw in ws:
                pass
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(read(ws)) for ws in students]
    teacher_reader = asyncio.create_task(drain(teacher))
    await asyncio.sleep(1.0)
    stroke = {"tool": "pen", "color": "#d62728", "width": 0.004, "points": [[0.5, 0.5]]}
    await teacher.send(
        json.dumps({"type": "annotation.add", "page": 1, "key": "bench", "final": False, "stroke": stroke})
    )
    per_batch = max(1, round(rate * BATCH_S))
    batches = int(seconds / BATCH_S)
    frames_out = 0
    cpu0, client0, start = (
        sum(cpu_seconds(p) for p in pids),
        resource.getrusage(resource.RUSAGE_SELF),
        time.perf_counter(),
    )
    for i in range(batches):
        x0 = round(0.1 + i * 0.0005, 4)
        points = [[x0, round(0.2 + 0.5 * (j / per_batch), 4)] for j in range(per_batch)]
        last = i == batches - 1
        sent[x0] = time.perf_counter()
        await teacher.send(
            json.dumps({"type": "annotation.extend", "page": 1, "key": "bench", "points": points, "final": last})
        )
        await asyncio.sleep(max(0.0, start + (i + 1) * BATCH_S - time.perf_counter()))
    deadline = time.perf_counter() + 15
    while len(arrivals) < batches * len(students) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    wall = time.perf_counter() - start
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    client1 = resource.getrusage(resource.RUSAGE_SELF)
    client = client1.ru_utime + client1.ru_stime - client0.ru_utime - client0.ru_stime
    for task in [*readers, teacher_reader]:
        task.cancel()
    for ws in [teacher, *students]:
        await ws.close()
    delays = [(at - sent[x]) * 1000 for x, at in arrivals if x in sent]
    # each point waited in the page's batch for a share of BATCH_S: evenly spread over it
    pen = [d + BATCH_S * 1000 * (j + 0.5) / per_batch for d in delays for j in range(per_batch)]
    return {
        "students": len(students),
        "points_s": per_batch / BATCH_S,
        "batches_s": 1 / BATCH_S,
        "frames_out_s": frames_out / wall,
        "delivered": len(delays) / max(1, batches * len(students)),
        "server_p50": percentile(delays, 50),
        "server_p99": percentile(delays, 99),
        "pen_p50": percentile(pen, 50),
        "pen_p99": percentile(pen, 99),
        "server_cpu_per_s": cpu / wall,
        "client_cpu_per_s": client / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--points-per-second", type=float, default=120.0)
    parser.add_argument("--setups", nargs="+", choices=["embedded", "redis"], default=["embedded"])
    args = parser.parse_args()
    with school(max(args.students), database="sqlite", name="draw") as made:
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f}; {args.seconds:g} s of drawing; times in ms")
        for setup in args.setups:
            env = made.env_for(setup)
            for n in args.students:
                made.database.fresh()
                lesson = start_lesson(n)
                with daphnes(2 if setup == "redis" else 1, env) as (ports, procs):
                    r = asyncio.run(
                        measure(ports, lesson, [p.pid for p in procs], args.seconds, args.points_per_second)
                    )
                print(
                    f"{setup:8} {n:4} students: {r['points_s']:.0f} points/s in {r['batches_s']:.1f} batches/s, "
                    f"{r['frames_out_s']:.0f} frames/s out, delivered {r['delivered']:.0%}; "
                    f"server->screen p50 {r['server_p50']:.1f} p99 {r['server_p99']:.1f}; "
                    f"pen->screen p50 {r['pen_p50']:.1f} p99 {r['pen_p99']:.1f}; "
                    f"server CPU {r['server_cpu_per_s']:.2f} s/s (client {r['client_cpu_per_s']:.2f} s/s)"
                )


if __name__ == "__main__":
    main()
