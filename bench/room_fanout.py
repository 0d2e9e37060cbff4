"""Benchmark the room's fan-out: a poll reaching 40 and 200 students, and 200 students voting.

Two setups, on one SQLite file in WAL mode or (--database postgres) a throwaway PostgreSQL cluster:
  embedded  one daphne process, the in-memory channel layer (no variable set);
  redis     REDIS_URL set (channels-redis): two daphne processes, students split between them,
            the teacher on the first.
For each setup and class size it prints
  (a) poll.create sent by the teacher -> poll.opened received by each student: p50/p99 of the
      last student's latency and of every delivery, over --reps polls;
  (b) every student votes, spread over one second: CPU (utime+stime) of the daphne process(es)
      until the teacher's live poll.results counts every vote, and how long that took; the CPU
      per vote is over what the servers use idle (measured over 2 s just before, for as long),
      next to what a ping costs (every student pings, spread over one second, just before).
Client CPU is printed next to each number: the students run in this one asyncio process, and a
client busy for most of the wall time would make the numbers its own.

Users get sessions straight from Django's SessionStore (no login form); the lesson is started with
`do_start_lesson`. Each run gets fresh server processes and a fresh copy of the synced database.

    .venv/bin/python bench/room_fanout.py            # 40 and 200 students, 20 polls each
    .venv/bin/python bench/room_fanout.py --quick    # 40 students, 8 polls
    .venv/bin/python bench/room_fanout.py --joins-only --students 200 --setups redis --database postgres
                                                     # the production shape's join storm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The servers' output, kept after the run (printed paths) for when a run fails.
LOGS = Path(tempfile.gettempdir()) / "cv-bench-fanout-logs"
MAX_STUDENTS = 500
MAX_REPS = 200
CONNECT_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 15.0
VOTE_TIMEOUT = 60.0
POLL_RETRY_S = 2.5
IDLE_S = 2.0  # the servers' idle CPU is measured over this before the votes
JOIN_ATTEMPTS = 5


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process and all its descendants, the exited ones included (their waited-for time)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(value) for value in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
    total = 0.0
    for pid, cpu in times.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += cpu
    return total


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- servers --------------------------------------------------------------------------------


@contextmanager
def daphnes(count: int, env: dict[str, str]) -> Iterator[tuple[list[int], list[subprocess.Popen[bytes]]]]:
    """Start `count` daphne processes on free 127.0.0.1 ports; stop them on the way out."""
    daphne = str(Path(sys.executable).parent / "daphne")
    LOGS.mkdir(exist_ok=True)
    ports = [free_port() for _ in range(count)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [daphne, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                    env=env,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=open(LOGS / f"daphne-{port}.log", "wb"),
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"daphne exited with {proc.returncode}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("daphne did not listen within 30 s") from None
                    time.sleep(0.05)
        yield ports, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                # daphne waits for its sockets' shutdown timeouts; the numbers are taken already.
                proc.kill()
                proc.wait()


# --- the school, the lesson, the sessions ----------------------------------------------------


@dataclass
class Lesson:
    room: str
    teacher: str  # session key
    students: list[str]  # session keys


class Database:
    """Where the servers keep the school: a SQLite file copied fresh for each run, or a PostgreSQL
    database made again from a template for each run (the production shape's database)."""

    def __init__(self, tmp: Path, postgres: Any = None) -> None:
        self.tmp = tmp
        self.postgres = postgres

    def url(self, name: str) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.tmp / name}.sqlite3"
        return self.postgres.url.rsplit("/", 1)[0] + f"/{name}"

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def prepare(self, students: int, env: dict[str, str]) -> None:
        """Generate one class of `students`, migrate and sync it into the template."""
        ldif = self.tmp / "school.ldif"
        subprocess.run(
            [sys.executable, "scripts/gen_directory.py", "--students", str(students), "--classes", "1",
             "--teachers", "2", "--no-passwords", "-o", str(ldif)],
            cwd=ROOT, check=True,
        )  # fmt: skip
        if self.postgres is not None:
            self._admin("CREATE DATABASE template_school")
        sync_env = {**env, "DATABASE_URL": self.url("template_school"), "DIRECTORY_LDIF": str(ldif)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=sync_env, check=True)
        subprocess.run([sys.executable, "manage.py", "sync_directory"], cwd=ROOT, env=sync_env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        if self.postgres is None:
            # One file, no WAL beside it, so that a plain copy is a fresh database.
            import sqlite3

            with sqlite3.connect(self.tmp / "template_school.sqlite3") as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def fresh(self) -> None:
        """The `room` database, a fresh copy of the template."""
        from django.db import connections

        connections.close_all()
        if self.postgres is not None:
            self._admin("DROP DATABASE IF EXISTS room WITH (FORCE)", "CREATE DATABASE room TEMPLATE template_school")
            return
        target = self.tmp / "room.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.tmp / "template_school.sqlite3", target)


@dataclass
class School:
    """The benchmarks' school: the servers' environment, its database, Redis once a setup asks."""

    env: dict[str, str]
    database: Database
    redis: Any = None

    def env_for(self, setup: str) -> dict[str, str]:
        """The servers' environment for a setup: `redis` starts Redis (once) and sets REDIS_URL."""
        env = dict(self.env)
        if setup == "redis":
            from tests.services import start_redis

            if self.redis is None:
                self.redis = start_redis()
            env["REDIS_URL"] = self.redis.url
        return env


@contextmanager
def school(students: int, *, database: str, name: str) -> Iterator[School]:
    """A generated class of `students` in a template database (SQLite or a throwaway PostgreSQL),
    this process's Django set up on it (it writes sessions and lessons; the servers read them), and
    everything stopped and removed on the way out: Ctrl-C and kill unwind through it."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix=f"cv-bench-{name}-"))
    postgres = None
    made: School | None = None
    try:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LDAP_URI", "DATABASE_URL")},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": f"bench-{name}",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LDAP_URI": "",
            "LOG_LEVEL": "WARNING",
        }
        if database == "postgres":
            from tests.services import start_postgres

            postgres = start_postgres()
        made = School(env, Database(tmp, postgres))
        made.database.prepare(students, env)
        env["DATABASE_URL"] = made.database.url("room")
        env["DIRECTORY_LDIF"] = str(tmp / "school.ldif")
        os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY",
                                                "DATABASE_URL", "LDAP_URI", "DIRECTORY_LDIF")})  # fmt: skip
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        yield made
    finally:
        if made is not None and made.redis is not None:
            made.redis.stop()
        if postgres is not None:
            from django.db import connections

            connections.close_all()
            postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def start_lesson(students: int) -> Lesson:
    """Start the lesson as its first teacher and log in the teacher and `students` students."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts.models import User
    from classroom.actions.lessons import do_start_lesson
    from classroom.models import SchoolClass

    store = import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[0]

    def session(user: User) -> str:
        s = store()
        s[SESSION_KEY] = str(user.pk)
        s[BACKEND_SESSION_KEY] = backend
        s[HASH_SESSION_KEY] = user.get_session_auth_hash()
        s.create()
        return str(s.session_key)

    school_class = SchoolClass.objects.get()
    teacher = school_class.teachers.order_by("pk").first()
    pupils = list(school_class.students.order_by("pk")[:students])
    if teacher is None or len(pupils) < students:
        raise SystemExit(f"the generated class has {len(pupils)} students and teacher {teacher}")
    room = do_start_lesson(school_class, teacher)
    return Lesson(room=str(room.pk), teacher=session(teacher), students=[session(u) for u in pupils])


# --- the client side -------------------------------------------------------------------------


@dataclass
class Client:
    """One socket; a reader task drains it and stamps the events the benchmark looks at."""

    ws: Any
    student: bool
    opened: dict[str, float] = field(default_factory=dict)  # question -> arrival
    oks: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    results: tuple[float, int] = (0.0, -1)  # arrival, voters of the latest poll.results
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def read(self, bench: Bench) -> None:
        try:
            async for raw in self.ws:
                at = time.perf_counter()
                # Only a few kinds matter; skip the JSON of the rest (participant.joined ...).
                if raw.startswith('{"type": "poll.opened"'):
                    question = json.loads(raw)["poll"]["question"]
                    self.opened[question] = at
                    if self.student:
                        bench.delivered(question)
                elif raw.startswith('{"type": "poll.results"'):
                    self.results = (at, json.loads(raw)["poll"]["voters"])
                    self.changed.set()
                elif raw.startswith('{"type": "ok"') or raw.startswith('{"type": "error"'):
                    event = json.loads(raw)
                    if event["type"] == "ok":
                        self.oks[event["ref"]] = (at, event)
                    else:
                        self.errors.append(event)
                    self.changed.set()
        except websockets.ConnectionClosed:
            pass

    async def wait(self, done: Any, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("no answer in time")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass


class Bench:
    def __init__(
        self, ports: list[int], lesson: Lesson, pids: list[int], profile: Path | None = None, database_pid: int = 0
    ) -> None:
        self.ports = ports
        self.lesson = lesson
        self.pids = pids
        self.profile = profile
        self.database_pid = database_pid  # PostgreSQL's postmaster (or its wrapper); 0 for SQLite
        self.students: list[Client] = []
        self.teacher: Client | None = None
        self.ref = 0
        self.expected: dict[str, asyncio.Event] = {}
        self.counts: dict[str, int] = {}

    def database_cpu(self) -> float:
        return tree_cpu_seconds(self.database_pid) if self.database_pid else 0.0

    def delivered(self, question: str) -> None:
        self.counts[question] = self.counts.get(question, 0) + 1
        if self.counts[question] == len(self.students) and question in self.expected:
            self.expected[question].set()

    def server_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    async def connect(self, port: int, session: str, student: bool = True) -> Client:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/rooms/{self.lesson.room}/",
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=CONNECT_TIMEOUT,
            ping_interval=None,
            max_size=None,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT))
        if first["type"] != "state":
            raise RuntimeError(f"expected state, got {first}")
        client = Client(ws, student)
        client.task = asyncio.create_task(client.read(self))
        return client

    async def join(self, storm_s: float) -> dict[str, float]:
        """Connect the teacher, then every student at an even pace over `storm_s` (a join storm).

        Each student's time is from opening its socket to receiving `state` (in the room); the
        teacher pings meanwhile, so a server too busy to answer shows in the ping's p99.
        """
        start = time.perf_counter()
        self.teacher = await self.connect(self.ports[0], self.lesson.teacher, student=False)
        teacher = self.teacher
        n = len(self.lesson.students)
        times: list[float] = []
        failed: list[int] = []
        pings: list[float] = []
        storming = True

        async def one(i: int, session: str) -> Client:
            await asyncio.sleep(max(0.0, start + storm_s * i / n - time.perf_counter()))
            opened = time.perf_counter()
            for attempt in range(JOIN_ATTEMPTS):
                try:
                    client = await self.connect(self.ports[i % len(self.ports)], session)
                    break
                except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                    # daphne drops a handshake the application did not accept within 5 s: a page
                    # would try again after its back-off, so does this student.
                    failed.append(i)
                    if attempt == JOIN_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(1.0)
            times.append(time.perf_counter() - opened)
            return client

        async def ping() -> None:
            while storming:
                sent = time.perf_counter()
                ref = await self.send(teacher, {"type": "ping"})
                await teacher.wait(lambda ref=ref: ref in teacher.oks, CONNECT_TIMEOUT)  # type: ignore[misc]
                pings.append(time.perf_counter() - sent)
                await asyncio.sleep(0.1)

        pinger = asyncio.create_task(ping())
        self.students = list(await asyncio.gather(*(one(i, s) for i, s in enumerate(self.lesson.students))))
        storming = False
        await pinger
        return {
            "join_s": time.perf_counter() - start,
            "join_p50": percentile(times, 50) * 1000,
            "join_p99": percentile(times, 99) * 1000,
            "join_max": max(times) * 1000,
            "join_ping_p50": percentile(pings, 50) * 1000,
            "join_ping_p99": percentile(pings, 99) * 1000,
            "join_failed": len(failed),
        }

    async def send(self, client: Client, message: dict[str, Any]) -> int:
        self.ref += 1
        await client.ws.send(json.dumps({**message, "ref": self.ref}))
        return self.ref

    async def create_poll(self, question: str) -> tuple[float, str]:
        """Send poll.create as the teacher; return when it was sent and the poll id (after `ok`).

        poll.create is limited per user and room (classroom/ratelimit.py: 5 per 25 s): a refused
        one is sent again once the window has moved on, and the latency counts from that send.
        """
        assert self.teacher is not None
        teacher = self.teacher
        self.expected[question] = asyncio.Event()
        for _attempt in range(20):
            teacher.errors.clear()
            sent = time.perf_counter()
            ref = await self.send(
                teacher, {"type": "poll.create", "question": question, "options": ["oui", "non", "je ne sais pas"],
                          "anonymous": False, "multiple": False},
            )  # fmt: skip
            await teacher.wait(lambda ref=ref: ref in teacher.oks or bool(teacher.errors), DELIVERY_TIMEOUT)  # type: ignore[misc]
            if ref in teacher.oks:
                return sent, teacher.oks[ref][1]["poll"]["id"]
            if any(error.get("code") != "rate_limited" for error in teacher.errors):
                break
            await asyncio.sleep(POLL_RETRY_S)
        raise RuntimeError(f"poll.create refused: {teacher.errors}")

    async def fan_out(self, reps: int) -> dict[str, float]:
        """(a): `reps` polls, each waited for at every student."""
        last: list[float] = []
        every: list[float] = []
        missing = 0
        for warmup in range(2):
            await self.one_poll(f"échauffement {warmup}")
        cpu0, client0, wall0 = self.server_cpu(), time.process_time(), time.perf_counter()
        for rep in range(reps):
            question = f"question {rep}"
            sent, _poll = await self.one_poll(question)
            arrivals = [s.opened.get(question, sent + DELIVERY_TIMEOUT) - sent for s in self.students]
            missing += sum(question not in s.opened for s in self.students)
            last.append(max(arrivals))
            every.extend(arrivals)
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - wall0
        return {
            "last_p50": percentile(last, 50) * 1000,
            "last_p99": percentile(last, 99) * 1000,
            "all_p50": percentile(every, 50) * 1000,
            "all_p99": percentile(every, 99) * 1000,
            "server_cpu_ms_per_poll": (self.server_cpu() - cpu0) / reps * 1000,
            "client_cpu_pct": (time.process_time() - client0) / wall * 100,
            "missing": missing,
        }

    async def one_poll(self, question: str) -> tuple[float, str]:
        """Create a poll and wait until every student has it; return when it was sent and its id."""
        sent, poll = await self.create_poll(question)
        try:
            await asyncio.wait_for(self.expected[question].wait(), DELIVERY_TIMEOUT)
        except TimeoutError:
            # Counted as missing (at the timeout) rather than fatal: a lost event is a result too.
            late = len(self.students) - self.counts.get(question, 0)
            print(f"  ! {question}: {late} of {len(self.students)} students had no poll.opened after "
                  f"{DELIVERY_TIMEOUT:.0f} s", flush=True)  # fmt: skip
        return sent, poll

    async def vote(self) -> dict[str, float]:
        """(b): every student votes once, spread evenly over one second."""
        assert self.teacher is not None
        _sent, poll = await self.one_poll("vote de toute la classe")
        teacher = self.teacher
        n = len(self.students)
        await asyncio.sleep(0.5)
        # What the servers use with nobody voting (their sockets, the channel layer's reads), to
        # set apart from what the votes cost.
        idle0, idle_wall0 = self.server_cpu(), time.perf_counter()
        await asyncio.sleep(IDLE_S)
        idle_rate = (self.server_cpu() - idle0) / (time.perf_counter() - idle_wall0)
        # The floor: every student pings, spread over one second (a message answered on the loop
        # with no database turn: what any message costs to receive, parse and answer).
        ping_cpu0 = self.server_cpu()
        ping_start = time.perf_counter()

        async def ping(i: int, student: Client) -> None:
            await asyncio.sleep(max(0.0, ping_start + i / n - time.perf_counter()))
            ref = await self.send(student, {"type": "ping"})
            await student.wait(lambda: ref in student.oks, VOTE_TIMEOUT)

        await asyncio.gather(*(ping(i, s) for i, s in enumerate(self.students)))
        ping_wall = time.perf_counter() - ping_start
        ping_cpu = self.server_cpu() - ping_cpu0 - idle_rate * ping_wall
        await asyncio.sleep(0.5)
        spies = self.spy("votes")
        cpu0, client0, database0 = self.server_cpu(), time.process_time(), self.database_cpu()
        start = time.perf_counter()

        async def ballot(i: int, student: Client) -> int:
            await asyncio.sleep(max(0.0, start + i / n - time.perf_counter()))
            return await self.send(student, {"type": "poll.vote", "poll": poll, "choices": [i % 3]})

        refs = await asyncio.gather(*(ballot(i, s) for i, s in enumerate(self.students)))
        await teacher.wait(lambda: teacher.results[1] >= n, VOTE_TIMEOUT)
        counted = teacher.results[0] - start
        cpu_counted, client_counted = self.server_cpu() - cpu0, time.process_time() - client0
        database_counted = self.database_cpu() - database0
        self.unspy(spies)
        for student, ref in zip(self.students, refs, strict=True):
            await student.wait(lambda s=student, r=ref: r in s.oks or bool(s.errors), VOTE_TIMEOUT)
        refused = [e for s in self.students for e in s.errors]
        if refused:
            raise RuntimeError(f"{len(refused)} votes refused, e.g. {refused[0]}")
        all_ok = max(s.oks[r][0] for s, r in zip(self.students, refs, strict=True)) - start
        return {
            "counted_s": counted,
            "all_ok_s": all_ok,
            "server_cpu_s": cpu_counted,
            "server_idle_cpu_s": idle_rate * counted,
            "database_cpu_s": database_counted,
            "ping_cpu_ms": ping_cpu / n * 1000,
            "client_cpu_s": client_counted,
        }

    def spy(self, what: str) -> list[subprocess.Popen[bytes]]:
        """With --profile: sample every daphne with py-spy (collapsed stacks, one file per process)."""
        if self.profile is None:
            return []
        self.profile.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).parent / "py-spy")
        spies = [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--rate",
                    "1000",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--threads",
                    "-p",
                    str(pid),
                    "-o",
                    str(self.profile / f"{what}-daphne{i}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for i, pid in enumerate(self.pids)
        ]
        time.sleep(0.5)  # py-spy attaches
        return spies

    @staticmethod
    def unspy(spies: list[subprocess.Popen[bytes]]) -> None:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=30)

    async def close(self) -> None:
        clients = [c for c in [self.teacher, *self.students] if c is not None]
        await asyncio.gather(*(asyncio.wait_for(c.ws.close(), 5) for c in clients), return_exceptions=True)
        for c in clients:
            if c.task is not None:
                c.task.cancel()


async def measure(
    ports: list[int],
    lesson: Lesson,
    pids: list[int],
    reps: int,
    storm_s: float,
    joins_only: bool = False,
    profile: Path | None = None,
    database_pid: int = 0,
) -> dict[str, float]:
    bench = Bench(ports, lesson, pids, profile, database_pid)
    try:
        client0, cpu0 = time.process_time(), bench.server_cpu()
        result = await bench.join(storm_s)
        result["join_client_cpu_s"] = time.process_time() - client0
        result["join_server_cpu_s"] = bench.server_cpu() - cpu0
        if not joins_only:
            if reps:
                result.update(await bench.fan_out(reps))
            result.update(await bench.vote())
        return result
    finally:
        await bench.close()


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 students only, 8 polls")
    parser.add_argument("--students", type=int, nargs="+", help="class sizes (default 40 200)")
    parser.add_argument("--reps", type=int, help="measured polls per run (default 20, quick 8; 0: votes only)")
    parser.add_argument("--storm", type=float, default=10.0, help="seconds over which the students arrive")
    parser.add_argument("--joins-only", action="store_true", help="measure the join storm only")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="sqlite (a file in WAL mode) or postgres (a throwaway cluster, as in production)",
    )
    parser.add_argument("--setups", nargs="+", choices=["embedded", "redis"], default=["embedded", "redis"])
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample each daphne with py-spy during the votes into this folder (collapsed stacks; "
        "py-spy's sampling costs the servers CPU: read the times of such a run as the profile's)",
    )
    args = parser.parse_args()
    sizes = args.students or ([40] if args.quick else [40, 200])
    reps = args.reps if args.reps is not None else (8 if args.quick else 20)
    if not all(1 <= n <= MAX_STUDENTS for n in sizes) or not 0 <= reps <= MAX_REPS:
        parser.error(f"1-{MAX_STUDENTS} students and 1-{MAX_REPS} reps")

    with school(max(sizes), database=args.database, name="fanout") as made:
        load = os.getloadavg()
        print(f"{os.cpu_count()} CPUs, {args.database}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"{reps} polls per run; times in ms unless said")  # fmt: skip
        for setup in args.setups:
            env = made.env_for(setup)
            redis = made.redis if setup == "redis" else None
            for n in sizes:
                made.database.fresh()
                postgres = made.database.postgres
                database_pid = postgres.process.pid if postgres is not None else 0
                lesson = start_lesson(n)
                redis_cpu0 = cpu_seconds(redis.process.pid) if redis is not None else 0.0
                with daphnes(2 if setup == "redis" else 1, env) as (ports, procs):
                    pids = [p.pid for p in procs]
                    result = asyncio.run(
                        asyncio.wait_for(
                            measure(ports, lesson, pids, reps, args.storm, args.joins_only, args.profile, database_pid),
                            600,
                        )
                    )
                if redis is not None:
                    result["redis_cpu_s"] = cpu_seconds(redis.process.pid) - redis_cpu0
                print_row(setup, n, result)
        load = os.getloadavg()
        print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def print_row(setup: str, n: int, r: dict[str, float]) -> None:
    print(
        f"{setup:8} {n:3} students | join storm: all in after {r['join_s']:5.1f} s; socket open -> state "
        f"p50 {r['join_p50']:6.0f} p99 {r['join_p99']:6.0f} max {r['join_max']:6.0f} ms; teacher ping "
        f"p50 {r['join_ping_p50']:5.0f} p99 {r['join_ping_p99']:5.0f} ms; server CPU {r['join_server_cpu_s']:.1f} s "
        f"(client CPU {r['join_client_cpu_s']:.1f} s)"
        + (f"; {r['join_failed']:.0f} handshakes failed and were retried" if r["join_failed"] else ""),
        flush=True,
    )
    if "counted_s" not in r:
        return
    print(
        (
            f"  (a) poll.opened  last student p50 {r['last_p50']:6.1f} p99 {r['last_p99']:6.1f} | "
            f"all deliveries p50 {r['all_p50']:6.1f} p99 {r['all_p99']:6.1f} | "
            f"server CPU {r['server_cpu_ms_per_poll']:5.1f} ms/poll | client CPU {r['client_cpu_pct']:4.1f} %"
            + (
                f" | {r['missing']:.0f} deliveries missing (counted at {DELIVERY_TIMEOUT:.0f} s)"
                if r["missing"]
                else ""
            )
            + "\n"
            if "last_p50" in r
            else ""
        )
        + f"  (b) {n} votes in 1 s: teacher sees all counted after {r['counted_s']:5.2f} s "
        f"(last ok {r['all_ok_s']:5.2f} s) | server CPU {r['server_cpu_s']:5.2f} s, "
        f"{(r['server_cpu_s'] - r['server_idle_cpu_s']) / n * 1000:4.2f} ms per vote over idle "
        f"({r['server_idle_cpu_s']:4.2f} s idle over as long) | "
        + (f"PostgreSQL CPU {r['database_cpu_s']:4.2f} s | " if r["database_cpu_s"] else "")
        + f"client CPU {r['client_cpu_s']:4.2f} s\n"
        f"      ({n} pings in 1 s, the floor of any message: {r['ping_cpu_ms']:4.2f} ms of server CPU per ping over idle)"
        + (f"\n  redis-server CPU over the whole run {r['redis_cpu_s']:.2f} s" if "redis_cpu_s" in r else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
