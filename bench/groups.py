"""Benchmark breakout groups' moves: a class of 30 into 6 groups of 5 and back, over real sockets.

The teacher and every student hold a socket in the lesson; the teacher sends `groups.open`
(`count` 6, `mode` random: every student of the class, all present here, 5 a group). Each student does what its page
does (static/js/room/groups.js): on `group.assigned` it closes its lesson socket and opens one to
its group's room; on `group.closed` it goes back to the lesson the same way. For each of --reps
open/close cycles it prints
  open   groups.open sent -> each student's `state` in its group room: p50, p99 and the last;
         and -> the first `groups.overview` that shows all 30 present in their groups (the
         teacher's screen);
  close  groups.close sent -> each student's `state` back in the lesson: p50, p99, the last;
and the server's CPU (utime+stime of the daphne processes) per cycle. No media here: the browser
test and `bench/run --groups` measure that part.

Two setups, as bench/room_fanout.py (whose helpers this reuses): embedded (one daphne, the
in-memory channel layer) and redis (two daphne processes on Redis, students split between them).
Run it directly (not under scripts/netns-run: server CPU is read from /proc by pid).

    .venv/bin/python bench/groups.py                   # 30 students, 6 groups, 5 cycles, both setups
    .venv/bin/python bench/groups.py --database postgres --setups redis
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.room_fanout import Lesson, cpu_seconds, daphnes, percentile, school, start_lesson  # noqa: E402

OPEN_TIMEOUT = 30.0
MOVE_TIMEOUT = 60.0


@dataclass
class Student:
    """One student's page: a socket in the lesson or in a group room, moving as the page does."""

    session: str
    port: int
    ws: Any = None
    room: str = ""
    arrived: dict[str, float] = field(default_factory=dict)  # room id -> `state` received there
    task: asyncio.Task[None] | None = None
    moves: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    async def enter(self, room: str) -> None:
        """Open a socket to the room (as the page's RoomClient.moveTo) and read up to `state`."""
        old = self.ws
        self.room = room
        if old is not None:
            await old.close()
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/rooms/{room}/",
            origin=f"http://127.0.0.1:{self.port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={self.session}"},
            open_timeout=OPEN_TIMEOUT,
            ping_interval=None,
            max_size=None,
        )
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), OPEN_TIMEOUT)
            if raw.startswith('{"type": "state"'):
                self.arrived[room] = time.perf_counter()
                return
            self._notice(raw)

    def _notice(self, raw: str) -> None:
        if raw.startswith('{"type": "group.assigned"'):
            self.moves.put_nowait(json.loads(raw)["group"]["room"])
        elif raw.startswith('{"type": "group.closed"'):
            self.moves.put_nowait(json.loads(raw)["room"])

    async def run(self) -> None:
        """Read the socket of the room it is in; go where `group.assigned` or `group.closed` says."""
        while True:
            reader = asyncio.create_task(self._read(self.ws))
            target = await self.moves.get()
            reader.cancel()
            await self.enter(target)

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                self._notice(raw)
        except websockets.ConnectionClosed:
            pass


class Teacher:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ref = 0
        self.replies: dict[int, dict[str, Any]] = {}
        self.overviews: list[tuple[float, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                if raw.startswith('{"type": "groups.overview"'):
                    self.overviews.append((time.perf_counter(), json.loads(raw)))
                elif raw.startswith('{"type": "ok"') or raw.startswith('{"type": "error"'):
                    event = json.loads(raw)
                    self.replies[event.get("ref", -1)] = event
                else:
                    continue
                self.changed.set()
        except websockets.ConnectionClosed:
            pass

    async def until(self, done: Any, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("the teacher saw nothing in time")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.ref += 1
        ref = self.ref
        await self.ws.send(json.dumps({**message, "ref": ref}))
        await self.until(lambda: ref in self.replies, MOVE_TIMEOUT)
        reply = self.replies[ref]
        if reply["type"] != "ok":
            raise RuntimeError(f"{message['type']} refused: {reply}")
        return reply


async def wait_all(students: list[Student], room_of: Any, since: float) -> list[float]:
    """Each student's time from `since` to its `state` in the room `room_of(student)` names."""
    deadline = time.perf_counter() + MOVE_TIMEOUT
    while True:
        times = [s.arrived.get(room_of(s), 0.0) - since for s in students]
        if all(t > 0 for t in times):
            return times
        if time.perf_counter() > deadline:
            late = sum(t <= 0 for t in times)
            raise TimeoutError(f"{late} of {len(students)} students did not arrive in {MOVE_TIMEOUT:.0f} s")
        await asyncio.sleep(0.005)


def shows_everyone(overviews: list[tuple[float, dict[str, Any]]], n: int) -> float | None:
    """When the first of these overviews showed `n` students present in the groups, if one did."""
    for at, overview in overviews:
        if sum(len(group["participants"]) for group in overview["groups"]) == n:
            return at
    return None


async def measure(ports: list[int], lesson: Lesson, pids: list[int], groups: int, reps: int) -> list[dict[str, float]]:
    teacher_ws = await websockets.connect(
        f"ws://127.0.0.1:{ports[0]}/ws/rooms/{lesson.room}/",
        origin=f"http://127.0.0.1:{ports[0]}",  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={lesson.teacher}"},
        open_timeout=OPEN_TIMEOUT,
        ping_interval=None,
        max_size=None,
    )
    teacher = Teacher(teacher_ws)
    students = [Student(session, ports[i % len(ports)]) for i, session in enumerate(lesson.students)]
    await asyncio.gather(*(s.enter(lesson.room) for s in students))
    for s in students:
        s.task = asyncio.create_task(s.run())
    n = len(students)
    rows = []
    try:
        for _rep in range(reps):
            await asyncio.sleep(1.0)
            cpu0, client0, wall0 = sum(cpu_seconds(pid) for pid in pids), time.process_time(), time.perf_counter()
            seen = len(teacher.overviews)
            sent = time.perf_counter()
            reply = await teacher.request({"type": "groups.open", "count": groups, "mode": "random"})
            rooms = [group["room"] for group in reply["groups"]]
            opened = await wait_all(students, lambda s, rooms=rooms: s.room if s.room in rooms else "-", sent)
            await teacher.until(lambda seen=seen: shows_everyone(teacher.overviews[seen:], n) is not None, MOVE_TIMEOUT)
            shown = (shows_everyone(teacher.overviews[seen:], n) or sent) - sent
            await asyncio.sleep(1.0)
            back_sent = time.perf_counter()
            for s in students:
                s.arrived.pop(lesson.room, None)
            await teacher.request({"type": "groups.close"})
            back = await wait_all(students, lambda s: lesson.room, back_sent)
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
            rows.append(
                {
                    "open_p50": percentile(opened, 50),
                    "open_p99": percentile(opened, 99),
                    "open_last": max(opened),
                    "overview_all": shown,
                    "close_p50": percentile(back, 50),
                    "close_p99": percentile(back, 99),
                    "close_last": max(back),
                    "server_cpu_s": cpu,
                    "client_cpu_pct": (time.process_time() - client0) / (time.perf_counter() - wall0) * 100,
                }
            )
    finally:
        for s in students:
            if s.task is not None:
                s.task.cancel()
        await asyncio.gather(
            *(asyncio.wait_for(ws.close(), 5) for ws in [teacher.ws, *(s.ws for s in students)] if ws is not None),
            return_exceptions=True,
        )
        teacher.task.cancel()
    return rows


def print_rows(setup: str, n: int, groups: int, rows: list[dict[str, float]]) -> None:
    for i, r in enumerate(rows, 1):
        print(
            f"{setup:8} {n} in {groups} groups, cycle {i}: open -> in group p50 {r['open_p50'] * 1000:5.0f} "
            f"p99 {r['open_p99'] * 1000:5.0f} last {r['open_last'] * 1000:5.0f} ms, overview shows all "
            f"{r['overview_all'] * 1000:5.0f} ms | close -> back p50 {r['close_p50'] * 1000:5.0f} "
            f"p99 {r['close_p99'] * 1000:5.0f} last {r['close_last'] * 1000:5.0f} ms | "
            f"server CPU {r['server_cpu_s']:.2f} s (client CPU {r['client_cpu_pct']:.0f} %)",
            flush=True,
        )
    for key, label in (("open_last", "open, last student"), ("close_last", "close, last student")):
        values = sorted(r[key] for r in rows)
        print(f"{setup:8} {label}: median of {len(rows)} cycles {values[len(values) // 2] * 1000:.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--groups", type=int, default=6, help="2-20")
    parser.add_argument("--reps", type=int, default=5, help="open/close cycles per setup")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--setups", nargs="+", choices=["embedded", "redis"], default=["embedded", "redis"])
    args = parser.parse_args()
    if not 2 <= args.groups <= 20 or not args.groups <= args.students <= 500 or not 1 <= args.reps <= 50:
        parser.error("2-20 groups, at least as many students (at most 500), 1-50 cycles")

    with school(args.students, database=args.database, name="groups") as made:
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, {args.database}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for setup in args.setups:
            env = made.env_for(setup)
            made.database.fresh()
            lesson = start_lesson(args.students)
            with daphnes(2 if setup == "redis" else 1, env) as (ports, procs):
                rows = asyncio.run(
                    asyncio.wait_for(measure(ports, lesson, [p.pid for p in procs], args.groups, args.reps), 600)
                )
            print_rows(setup, args.students, args.groups, rows)
        load = os.getloadavg()
        print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
