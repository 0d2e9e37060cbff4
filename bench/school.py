"""A school morning on one server: how many classes start at 8:00 before one of them suffers.

The production shape as separate processes on this machine: PostgreSQL (a throwaway cluster, a
fresh database from a template for each step), Redis, two daphne web processes (the shipped
cv-web@ command), two media nodes (`python -m media_server`, cv-media@), a Celery worker and beat.
For each step N of the climb (1, 2, 4, 6, 8, 10, 12 by default):

- N lessons start within --spread seconds (60), one every spread/N seconds, each a teacher
  (camera, microphone, a deck shown) and --students students (28) arriving evenly over --join
  seconds (10), of whom --cameras (3) publish their camera; then pages turn, chat, hands and a
  poll every 30 s (bench/school_load.py says exactly what);
- one recess of --recess students (40) in discussion mode starts with the first lesson: a
  supervisor, every student publishing a camera and a microphone, three speaking;
- after the last class has joined and --settle seconds more, a --window second window (20)
  measures media: packets received against packets sent for every stream each subscriber should
  get (loss), and the send-to-receive delay of each packet; events are measured all along.

A class suffers when its join p99 (socket open to `state`) is over 3 s, its event p99 (page,
chat, hand, poll from the sender to each other participant) over 250 ms, its media loss over 1 %,
or its media delay p99 over 100 ms. The climb stops after the first step where one does; "classes
held" is the largest N before it. Each step prints the figures per room, the CPU of each server
part over the window and the load generator's own CPU (its headroom: it runs on the same 2 CPUs).
A step where other work took more than a quarter of a core, or where the generator's event loop
woke up more than 20 ms late (p99), is marked "not judged": its verdict is the machine's or the
generator's, not the server's.

The load generator is --workers processes (default one per CPU, plus one for the recess) of
bench/school_load.py: real room WebSockets with session cookies made straight from Django's
SessionStore, real aiortc handshakes through the room's media.* signalling, the media
benchmark's pre-made packets (bench/media/peers.py). Everything runs in scripts/netns-run's private network and PID namespace
(ICE needs a non-loopback address; this script re-executes itself there), so every packet stays
on 127.0.0.1 and 10.99.0.0/24 and whatever a run leaves behind dies with it.

    .venv/bin/python bench/school.py                       # the climb, about 2 minutes a step
    .venv/bin/python bench/school.py --classes 1 --spread 5 --window 8     # a quick look
    .venv/bin/python bench/school.py --server-cpus 0 --generator-cpus 1   # the server on one core
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOGS = Path(tempfile.gettempdir()) / "cv-bench-school-logs"
RESULTS = ROOT / "bench" / "results" / "school.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGES = 20
# What "a class suffers" means (issue 19, item 4).
JOIN_P99_MS = 3000.0
EVENT_P99_MS = 250.0
LOSS = 0.01
DELAY_P99_MS = 100.0
# A step is judged only when the server had the machine: other work under a quarter of a core, the
# load generator's event loop late by under 20 ms (p99) over the window.
OTHER_LIMIT_PCT = 25.0
GENERATOR_LATE_MS = 20.0
STUDENTS_PER_GENERATED_CLASS = 32
RECESS_CLASSES = 2


def in_namespace() -> None:
    """Run again inside scripts/netns-run, with a /proc of its own PID namespace, unless already there."""
    me = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    if os.environ.get("CV_IN_NETNS") != "1":
        netns = str(ROOT / "scripts" / "netns-run")
        os.execv(netns, [netns, "unshare", "--mount-proc", *me])
    if os.readlink("/proc/self") != str(os.getpid()):
        # inside a PID namespace that still sees the machine's /proc (the tests' netns-run): CPU
        # times are read by pid, so mount the namespace's own
        if os.environ.get("CV_SCHOOL_PROC") == "1":
            raise SystemExit("/proc does not show this PID namespace")
        os.environ["CV_SCHOOL_PROC"] = "1"
        unshare = shutil.which("unshare") or "/usr/bin/unshare"
        os.execv(unshare, [unshare, "--mount-proc", *me])


# --- /proc --------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _tree(pid: int) -> dict[int, list[str]]:
    """The /proc stat fields of a process and of each of its live descendants, by pid."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree: dict[int, list[str]] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            tree[p] = stats[p]
            todo += children.get(p, [])
    return tree


def tree_cpu(pid: int) -> float:
    """utime+stime of a process, its reaped children (cutime+cstime) and its live descendants."""
    total = sum(int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]) for f in _tree(pid).values())
    return total / CLK_TCK


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Run a process, its threads and its descendants on these CPUs (what they start later inherits it)."""
    for p in _tree(pid):
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                os.sched_setaffinity(int(task), cpus)
        except OSError:  # gone meanwhile
            pass


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A Popen preexec_fn that runs the child on these CPUs (None: wherever the scheduler likes)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def cpu_set(text: str) -> set[int] | None:
    """'0' or '0,1' as a set of CPUs; '' as None."""
    return {int(x) for x in text.split(",") if x.strip()} or None


def machine_busy() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return float(ordered[int(rank) - 1])


# --- the school ---------------------------------------------------------------------------------


@dataclass
class Member:
    session: str
    id: str
    camera: bool = False
    microphone: bool = False
    level: int = 127


@dataclass
class Room:
    name: str
    kind: str
    room: str
    host: Member
    members: list[Member]
    deck: str | None = None


class School:
    """The generated directory in a PostgreSQL template, and a fresh copy of it for each step."""

    def __init__(self, tmp: Path, postgres: Any, classes: int, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.postgres = postgres
        self.classes = classes
        ldif = tmp / "school.ldif"
        total = classes + RECESS_CLASSES
        subprocess.run(
            [sys.executable, "scripts/gen_directory.py", "--students", str(STUDENTS_PER_GENERATED_CLASS * total),
             "--classes", str(total), "--teachers", str(2 * total), "--staff", "2", "--no-passwords", "-o", str(ldif)],
            cwd=ROOT, check=True,
        )  # fmt: skip
        self._admin("CREATE DATABASE template_school")
        sync_env = {**env, "DATABASE_URL": self.url("template_school"), "DIRECTORY_LDIF": str(ldif)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=sync_env, check=True)
        subprocess.run([sys.executable, "manage.py", "sync_directory"], cwd=ROOT, env=sync_env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    def url(self, name: str) -> str:
        return str(self.postgres.url).rsplit("/", 1)[0] + f"/{name}"

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def fresh(self) -> None:
        from django.db import connections

        connections.close_all()
        self._admin("DROP DATABASE IF EXISTS room WITH (FORCE)", "CREATE DATABASE room TEMPLATE template_school")

    def morning(self, lessons: int, students: int, cameras: int, recess: int) -> list[Room]:
        """Start `lessons` lessons (a ready deck each) and a recess; log everyone in."""
        from importlib import import_module

        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

        from accounts.models import Role, User
        from classroom.actions.lessons import do_start_lesson
        from classroom.actions.recess import do_create_recess
        from classroom.models import SchoolClass
        from slides.models import Deck

        store = import_module(settings.SESSION_ENGINE).SessionStore
        backend = settings.AUTHENTICATION_BACKENDS[0]

        def member(user: User, **kw: Any) -> Member:
            s = store()
            s[SESSION_KEY] = str(user.pk)
            s[BACKEND_SESSION_KEY] = backend
            s[HASH_SESSION_KEY] = user.get_session_auth_hash()
            s.create()
            return Member(session=str(s.session_key), id=str(user.pk), **kw)

        classes = list(SchoolClass.objects.order_by("pk"))
        if len(classes) < lessons + RECESS_CLASSES:
            raise SystemExit(f"the generated school has {len(classes)} classes")
        rooms = []
        used: set[int] = set()
        for i, school_class in enumerate(classes[:lessons]):
            team = [t for t in school_class.teachers.order_by("pk") if t.pk not in used] or list(
                school_class.teachers.order_by("pk")
            )
            teacher = team[0]
            used.add(teacher.pk)
            pupils = list(school_class.students.order_by("pk")[:students])
            if len(pupils) < students:
                raise SystemExit(f"{school_class} has {len(pupils)} students, fewer than {students}")
            room = do_start_lesson(school_class, teacher)
            deck = Deck.objects.create(
                school_class=school_class, title="Cours", original_name="cours.pdf", source_kind="pdf",
                uploaded_by=teacher, status=Deck.Status.READY, pages=PAGES, progress=PAGES,
            )  # fmt: skip
            rooms.append(
                Room(
                    name=f"class-{i + 1}",
                    kind="lesson",
                    room=str(room.pk),
                    host=member(teacher, camera=True, microphone=True, level=30),
                    members=[member(u, camera=k < cameras) for k, u in enumerate(pupils)],
                    deck=str(deck.pk),
                )
            )
        if recess:
            supervisor = User.objects.filter(role=Role.SUPERVISOR).order_by("pk").first()
            if supervisor is None:
                raise SystemExit("the generated school has no school-life staff")
            recess_classes = classes[-RECESS_CLASSES:]
            room = do_create_recess(supervisor, "Récréation", recess_classes)
            per_class = -(-recess // RECESS_CLASSES)
            pupils = [u for c in recess_classes for u in c.students.order_by("pk")[:per_class]][:recess]
            rooms.append(
                Room(
                    name="recess",
                    kind="recess",
                    room=str(room.pk),
                    host=member(supervisor),
                    members=[
                        member(u, camera=True, microphone=True, level=30 + k if k < 3 else 127)
                        for k, u in enumerate(pupils)
                    ],
                )
            )
        return rooms


# --- the servers --------------------------------------------------------------------------------


@dataclass
class Servers:
    """The production shape's processes for one step, by part."""

    named: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    cpus: set[int] | None = None
    """The CPUs the servers run on (--server-cpus); None: any."""

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        LOGS.mkdir(exist_ok=True)
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(LOGS / f"{name}.log", "wb"), preexec_fn=pinned(self.cpus),
        )  # fmt: skip
        self.named[name] = proc
        return proc

    def stop(self) -> None:
        for proc in self.named.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.named.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_servers(env: dict[str, str], redis_url: str, tmp: Path, celery: bool, cpus: set[int] | None) -> Servers:
    from bench.room_fanout import free_port
    from media_server import bus

    servers = Servers(cpus=cpus)
    venv = Path(sys.executable).parent
    servers.ports = [free_port(), free_port()]
    for i, port in enumerate(servers.ports):
        servers.start(f"web-{i + 1}", [str(venv / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                       "config.asgi:application"], env)  # fmt: skip
    nodes = ["school-1", "school-2"]
    for i, node in enumerate(nodes):
        servers.start(f"media-{i + 1}", [sys.executable, "-m", "media_server", "--node-id", node],
                      {**env, "MEDIA_NODE_ID": node})  # fmt: skip
    if celery:
        servers.start("celery-worker", [str(venv / "celery"), "-A", "config", "worker", "-l", "warning",
                                        "--concurrency", "2"], env)  # fmt: skip
        servers.start("celery-beat", [str(venv / "celery"), "-A", "config", "beat", "-l", "warning",
                                      "--schedule", str(tmp / "celerybeat-schedule")], env)  # fmt: skip
    import socket

    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    try:
        while True:
            for proc in servers.named.values():
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args} exited with {proc.returncode} (logs in {LOGS})")
            up = 0
            for port in servers.ports:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        up += 1
                except OSError:
                    pass
            if up == len(servers.ports) and all(client.exists(bus.node_key(n)) for n in nodes):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the servers did not start within 60 s (logs in {LOGS})")
            time.sleep(0.1)
    except BaseException:
        servers.stop()
        raise
    finally:
        client.close()
    return servers


# --- one step -----------------------------------------------------------------------------------


def run_step(args: argparse.Namespace, n: int, school: School, env: dict[str, str], redis: Any) -> dict[str, Any]:
    import redis as redis_client

    school.fresh()
    with redis_client.Redis.from_url(redis.url) as client:
        client.flushall()
    rooms = school.morning(n, args.students, args.cameras, args.recess)
    load_before = [round(x, 2) for x in os.getloadavg()]
    server_cpus, generator_cpus = cpu_set(args.server_cpus), cpu_set(args.generator_cpus)
    if server_cpus is not None:
        # PostgreSQL and Redis outlive the steps: their backends and threads to come inherit it
        pin_tree(school.postgres.process.pid, server_cpus)
        pin_tree(redis.process.pid, server_cpus)
    servers = start_servers(env, redis.url, school.tmp, not args.no_celery, server_cpus)
    workers: list[subprocess.Popen[str]] = []
    replies: list[dict[str, Any]] = []
    try:
        count = max(1, min(args.workers, len(rooms)))
        for i in range(count):
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.school_load"],
                    cwd=ROOT,
                    text=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=open(LOGS / f"generator-{i}.log", "w"),
                    preexec_fn=pinned(generator_cpus),
                )  # fmt: skip
            )
        for w in workers:
            assert w.stdout is not None
            if '"ready"' not in w.stdout.readline():
                raise RuntimeError(f"a generator did not start (logs in {LOGS})")
        # The timeline, in CLOCK_MONOTONIC seconds (one clock for every process of the machine).
        begin = time.monotonic() + 2.0
        lessons = [r for r in rooms if r.kind == "lesson"]
        starts = {r.name: begin + args.spread * i / len(lessons) for i, r in enumerate(lessons)}
        starts["recess"] = begin
        t0 = max(starts.values()) + args.join + 0.5 + args.settle
        t1 = t0 + args.window
        end = t1 + 3.0
        specs = [
            {
                **asdict(r),
                "start": starts[r.name],
                "join_s": args.join,
                "t0": t0,
                "t1": t1,
                "end": end,
                "index": i,
                "tiles": not args.no_tiles,
            }
            for i, r in enumerate(rooms)
        ]
        # the recess (41 publishers) in a process of its own when there are several, the lessons dealt
        # out over the others
        shares: list[list[dict[str, Any]]] = [[] for _ in workers]
        lesson_workers = len(workers) - 1 if args.recess and len(workers) > 1 else len(workers)
        for spec in specs:
            shares[
                -1 if spec["kind"] == "recess" and lesson_workers < len(workers) else spec["index"] % lesson_workers
            ].append(spec)
        for i, w in enumerate(workers):
            assert w.stdin is not None
            job = {"ports": servers.ports, "rooms": shares[i], "t0": t0, "t1": t1}
            w.stdin.write(json.dumps(job) + "\n")
            w.stdin.flush()
        # Every process by name ("web-1" ...); a part is the name less its number.
        pids = {name: proc.pid for name, proc in servers.named.items()}
        pids.update({f"generator-{i + 1}": w.pid for i, w in enumerate(workers)})
        pids["postgres"] = school.postgres.process.pid
        pids["redis"] = redis.process.pid

        def sample() -> dict[str, float]:
            return {name: tree_cpu(pid) for name, pid in pids.items()}

        step0, step_busy0 = sample(), machine_busy()
        time.sleep(max(0.0, t0 - time.monotonic()))
        cpu0, busy0, me0 = sample(), machine_busy(), time.process_time()
        time.sleep(max(0.0, t1 - time.monotonic()))
        cpu1, busy1, me1 = sample(), machine_busy(), time.process_time()
        for w in workers:
            assert w.stdout is not None
            line = w.stdout.readline()
            if not line:
                raise RuntimeError(f"a generator exited with {w.wait()} (logs in {LOGS})")
            replies.append(json.loads(line))
        step1, step_busy1 = sample(), machine_busy()
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()
        servers.stop()
    window = t1 - t0
    processes = {name: round(100 * (cpu1[name] - cpu0[name]) / window, 1) for name in cpu0}
    parts: dict[str, float] = {}
    for name, pct in processes.items():
        part = name.split("-")[0]
        parts[part] = round(parts.get(part, 0.0) + pct, 1)
    ours = sum(processes.values()) + 100 * (me1 - me0) / window
    parts["other"] = round(100 * (busy1 - busy0) / window - ours, 1)
    step_cpu = {name: round(step1[name] - step0[name], 1) for name in step0}
    step_cpu["machine"] = round(step_busy1 - step_busy0, 1)
    rooms_out = [judge(r) for reply in replies for r in reply["rooms"]]
    order = {r.name: i for i, r in enumerate(rooms)}
    rooms_out.sort(key=lambda r: order[r["name"]])
    return {
        "classes": n,
        "recess": args.recess,
        "load_before": load_before,
        "window_cpu_pct": parts,
        "process_cpu_pct": processes,
        "generator": [
            {k: reply[k] for k in ("cpu_s", "lag_window_p99_ms", "lag_window_max_ms", "lag_p99_ms")}
            for reply in replies
        ],
        "step_cpu_s": step_cpu,
        "step_s": round(end - begin + 2.0, 1),
        "rooms": rooms_out,
        "suffering": [r["name"] for r in rooms_out if r["fails"]],
        "not_judged": not_judged(parts, replies),
        "server_cpus": args.server_cpus,
    }


def judge(r: dict[str, Any]) -> dict[str, Any]:
    """A room's figures and which of the four limits it passes."""
    events = [x for v in r["events_ms"].values() for x in v]
    delays = sorted(r["delays_us"])
    out = {
        "name": r["name"],
        "kind": r["kind"],
        "participants": r["participants"],
        "joined": r["joined"] + 1,
        "join_p50_ms": percentile(r["joins_ms"], 50),
        "join_p99_ms": percentile(r["joins_ms"], 99),
        "join_retries": r["join_retries"],
        "page_p99_ms": percentile(r["pages_ms"], 99),
        "media_join_p99_ms": percentile(r["media_join_ms"], 99),
        "media_joined": r["media_joined"],
        "events": len(events),
        "event_p50_ms": percentile(events, 50),
        "event_p99_ms": percentile(events, 99),
        "event_p99_by_kind_ms": {k: percentile(v, 99) for k, v in r["events_ms"].items() if v},
        "events_never_delivered": r["events_never_delivered"],
        "ack_p99_ms": percentile(r["acks_ms"], 99),
        "expected_packets": r["expected_packets"],
        "loss": round(1 - r["received_packets"] / r["expected_packets"], 5) if r["expected_packets"] else None,
        "missing_streams": r["missing_streams"],
        "delay_p50_ms": percentile(delays, 50) / 1000,
        "delay_p99_ms": percentile(delays, 99) / 1000,
        "errors": r["errors"],
        "error_count": r["error_count"],
    }
    fails = []
    if out["joined"] < r["participants"]:
        fails.append(f"{r['participants'] - out['joined']} never joined")
    if out["join_p99_ms"] > JOIN_P99_MS:
        fails.append("join")
    if out["event_p99_ms"] > EVENT_P99_MS:
        fails.append("events")
    if out["loss"] is None or out["loss"] > LOSS:
        fails.append("loss")
    if out["delay_p99_ms"] > DELAY_P99_MS:
        fails.append("delay")
    out["fails"] = fails
    return out


def not_judged(cpu: dict[str, float], replies: list[dict[str, Any]]) -> list[str]:
    """Why a step's verdict would be the machine's or the generator's rather than the server's."""
    reasons = []
    if cpu["other"] > OTHER_LIMIT_PCT:
        reasons.append(f"other work took {cpu['other']:.0f} % of the CPUs")
    # joins and events are measured over the whole step, media over the window: the worse of both
    late = max(max(reply["lag_window_p99_ms"], reply["lag_p99_ms"]) for reply in replies)
    if late > GENERATOR_LATE_MS:
        reasons.append(f"the generator's event loop woke up to {late:.0f} ms late (p99)")
    return reasons


def saturation(step: dict[str, Any]) -> str:
    """What gave first in a step: the limits passed, in how many rooms, and where the CPU went."""
    counts: dict[str, int] = {}
    for r in step["rooms"]:
        for fail in r["fails"]:
            counts[fail] = counts.get(fail, 0) + 1
    servers = {k: v for k, v in step["process_cpu_pct"].items() if not k.startswith("generator")}
    name, pct = max(servers.items(), key=lambda kv: kv[1])
    cpu = step["window_cpu_pct"]
    machine = sum(cpu.values())
    capacity = 100 * (os.cpu_count() or 1)
    server_cpus = cpu_set(step.get("server_cpus", ""))
    server = machine - cpu["other"] - cpu.get("generator", 0)
    if pct >= 90:
        where = f"{name} saturated its one core ({pct:.0f} %)"
    elif server_cpus is not None and server >= 90 * len(server_cpus):
        where = f"the server's {len(server_cpus)} CPU(s) ({server:.0f} % of {100 * len(server_cpus)} %)"
    elif machine >= 0.9 * capacity and cpu["other"] >= 25:
        where = f"the machine's CPUs, {cpu['other']:.0f} % of them taken by other work"
    elif machine >= 0.9 * capacity:
        where = "the machine's CPUs, no single process saturated"
    else:
        where = f"no CPU limit reached (busiest server process {name} at {pct:.0f} %)"
    return (
        ", ".join(f"{fail} in {count} room(s)" for fail, count in counts.items())
        + f"; {where}; the machine at {machine:.0f} % of {capacity} % over the window "
        f"(server {server:.0f} %"
        + (f" of its {100 * len(server_cpus)} % on CPUs {step['server_cpus']}" if server_cpus is not None else "")
        + f", generator {cpu.get('generator', 0):.0f} %, other work {cpu['other']:.0f} %)"
    )


def markdown(steps: list[dict[str, Any]]) -> str:
    """The climb as the table of docs/benchmarks.md: one row per step, the worst room of each figure."""
    lines = [
        "| lessons + recess | rooms suffering | join p99 (worst room) | event p99 (worst) | media loss (worst) "
        "| delay p99 (worst) | server CPU, window | of which media nodes | generator CPU / loop late p99 | other work "
        "| load average before |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for step in steps:
        rooms = step["rooms"]
        cpu = step["window_cpu_pct"]
        server = sum(v for k, v in cpu.items() if k not in ("generator", "other"))
        losses = [r["loss"] for r in rooms if r["loss"] is not None]
        suffering = ", ".join(f"{r['name']} ({', '.join(r['fails'])})" for r in rooms if r["fails"]) or "none"
        if step["not_judged"]:
            suffering += " (not judged: " + "; ".join(step["not_judged"]) + ")"
        lag = max(g["lag_window_p99_ms"] for g in step["generator"])
        lines.append(
            f"| {step['classes']} + {step['recess']} | {suffering} | {max(r['join_p99_ms'] for r in rooms):,.0f} ms "
            f"| {max(r['event_p99_ms'] for r in rooms):,.0f} ms | {100 * max(losses, default=1.0):.2f} % "
            f"| {max(r['delay_p99_ms'] for r in rooms):,.1f} ms | {server:.0f} % | {cpu.get('media', 0):.0f} % "
            f"| {cpu.get('generator', 0):.0f} % / {lag:,.0f} ms | {cpu['other']:.0f} % "
            f"| {step['load_before'][0]:.1f} |"
        )
    return "\n".join(lines)


def print_step(step: dict[str, Any]) -> None:
    cpu = step["window_cpu_pct"]
    print(
        f"\n{step['classes']} classes + recess of {step['recess']}: load average before {step['load_before']}\n"
        "  CPU % of one core over the media window, by part: "
        + ", ".join(f"{k} {v}" for k, v in cpu.items())
        + "\n  by process: "
        + ", ".join(f"{k} {v}" for k, v in step["process_cpu_pct"].items())
        + "\n  generator (headroom): "
        + "; ".join(
            f"process {i + 1} event loop late p99 {g['lag_window_p99_ms']} ms, max {g['lag_window_max_ms']} ms "
            f"in the window (whole step p99 {g['lag_p99_ms']} ms)"
            for i, g in enumerate(step["generator"])
        ),
        flush=True,
    )
    print(
        f"  {'room':9} {'joined':>7} {'page p99':>8} {'join p50/p99 ms':>16} {'events':>6} {'event p50/p99 ms':>17} "
        f"{'loss %':>7} {'delay p50/p99 ms':>17} {'media p99 ms':>12}  verdict"
    )
    for r in step["rooms"]:
        loss = "-" if r["loss"] is None else f"{100 * r['loss']:.2f}"
        print(
            f"  {r['name']:9} {r['joined']:>3}/{r['participants']:<3} {r['page_p99_ms']:8.0f} "
            f"{r['join_p50_ms']:7.0f}/{r['join_p99_ms']:<7.0f} "
            f"{r['events']:>6} {r['event_p50_ms']:8.1f}/{r['event_p99_ms']:<8.1f} {loss:>7} "
            f"{r['delay_p50_ms']:8.1f}/{r['delay_p99_ms']:<8.1f} {r['media_join_p99_ms']:12.0f}  "
            + ("suffers: " + ", ".join(r["fails"]) if r["fails"] else "ok")
            + (f" ({r['error_count']} errors, e.g. {r['errors'][0]})" if r["errors"] else ""),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", default="1,2,4,6,8,10,12", help="the climb: lessons per step")
    parser.add_argument("--students", type=int, default=28)
    parser.add_argument("--cameras", type=int, default=3, help="students publishing a camera per class")
    parser.add_argument("--recess", type=int, default=40, help="students in the recess (0: none)")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the lessons start")
    parser.add_argument("--join", type=float, default=10.0, help="seconds over which a class's students arrive")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the last arrival before the window")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the media window")
    parser.add_argument(
        "--workers", type=int, default=(os.cpu_count() or 2) + 1, help="load generator processes (one for the recess)"
    )
    parser.add_argument("--no-celery", action="store_true", help="without the Celery worker and beat")
    parser.add_argument("--no-stop", action="store_true", help="run every step even after one suffers")
    parser.add_argument(
        "--server-cpus", default="", help="CPUs for every server process, e.g. 0 (default: all share every CPU)"
    )
    parser.add_argument("--generator-cpus", default="", help="CPUs for the load generator, e.g. 1")
    parser.add_argument(
        "--no-tiles", action="store_true", help="pages do not say which cameras they show small (before media.tiles)"
    )
    parser.add_argument("--json", default=str(RESULTS), help="where to write the results ('' for nowhere)")
    args = parser.parse_args()
    climb = sorted({int(x) for x in args.classes.split(",") if x.strip()})
    if not climb or climb[0] < 1 or not 1 <= args.students <= STUDENTS_PER_GENERATED_CLASS - 1:
        parser.error(f"classes from 1, 1-{STUDENTS_PER_GENERATED_CLASS - 1} students")
    if not 0 <= args.recess <= RECESS_CLASSES * (STUDENTS_PER_GENERATED_CLASS - 1):
        parser.error("recess too large")
    in_namespace()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # as the shipped units' LimitNOFILE: hundreds of sockets per process (room sockets, ICE)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, hard) if hard != resource.RLIM_INFINITY else 65536, hard))
    tmp = Path(tempfile.mkdtemp(prefix="cv-bench-school-"))
    redis = postgres = None
    from tests.services import start_postgres, start_redis

    try:
        postgres = start_postgres()
        redis = start_redis()
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LDAP_URI", "DATABASE_URL")},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "bench-school-morning",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LDAP_URI": "",
            "LOG_LEVEL": "WARNING",
            "MEDIA_ROOT": str(tmp / "uploads"),
        }
        school = School(tmp, postgres, climb[-1], env)
        env["DATABASE_URL"] = school.url("room")
        env["DIRECTORY_LDIF"] = str(tmp / "school.ldif")
        os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DATABASE_URL",
                                               "LDAP_URI", "DIRECTORY_LDIF", "MEDIA_ROOT")})  # fmt: skip
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        env["REDIS_URL"] = redis.url
        print(
            f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; climb {climb}; "
            f"{args.students} students a class ({args.cameras} cameras), recess of {args.recess}; lessons start "
            f"over {args.spread:.0f} s, students over {args.join:.0f} s; media window {args.window:.0f} s"
            + (f"; server on CPUs {args.server_cpus}" if args.server_cpus else "")
            + (f", generator on CPUs {args.generator_cpus}" if args.generator_cpus else ""),
            flush=True,
        )
        steps = []
        held = 0
        first_failure: dict[str, Any] | None = None
        for n in climb:
            step = run_step(args, n, school, env, redis)
            steps.append(step)
            print_step(step)
            if step["suffering"]:
                first_failure = first_failure or step
                if not args.no_stop:
                    break
            elif first_failure is None:
                held = n
        summary = {
            "date": time.strftime("%Y-%m-%d"),
            "cpus": os.cpu_count(),
            "args": vars(args),
            "classes_held": held,
            "judged": first_failure is None or not first_failure["not_judged"],
            "first_failure": None
            if first_failure is None
            else {
                "classes": first_failure["classes"],
                "rooms": {r["name"]: r["fails"] for r in first_failure["rooms"] if r["fails"]},
                "saturation": saturation(first_failure),
            },
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "steps": steps,
        }
        print("\n" + markdown(steps))
        judged = first_failure is None or not first_failure["not_judged"]
        print(
            f"\nclasses held: {held} (of the climb {climb}); load average after {summary['load_after']}"
            + ("" if judged else f"; NOT JUDGED: {'; '.join(first_failure['not_judged'])} in the step that stopped it")
        )
        if first_failure is not None:
            print(f"first step with a room suffering: {first_failure['classes']} classes: {saturation(first_failure)}")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
            print(f"results in {args.json}")
    finally:
        if postgres is not None:
            if "django.db" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
                from django.db import connections

                connections.close_all()
            postgres.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
