"""Run the media benchmark: our forwarder and Janus under the same load, one process each.

Everything runs inside scripts/netns-run (bench/run takes care of it): ICE needs a non-loopback
address, and the namespace keeps every packet on 127.0.0.1 and 10.99.0.0/24.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import report
from .janus import janus_binary, write_config
from .measure import cpu_seconds, machine_busy_seconds, percentile, rss_bytes, udp_receive_buffer_errors
from .scenarios import Scenario, discussion, groups, lecture

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SFU_PORT = 47001
JANUS_PORT = 47188
READY_S = 40.0
SWEEP_SIZES = [10, 20, 30, 40, 50, 60, 70, 80, 100, 120]
"""Participants of the full mode's discussion sweep, climbed per forwarder until one fails."""
GENERATOR_LIMIT_PCT = 75.0
"""Generator CPU (all workers, % of one core) from which a sweep run is not judged: a generator
this busy sends late and reads late, so the run would measure it rather than the forwarder."""
GENERATOR_RECEIVE_US = 3.0
"""The generator's CPU per received packet (its echo runs measure about 3 µs), for projections."""


@dataclass
class Cores:
    """Which CPUs the forwarder under test and the load generator are pinned to."""

    server: list[int]
    generator: list[int]

    @classmethod
    def split(cls) -> Cores:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) == 1:
            return cls(cores, cores)
        # one core for the forwarder (ours is one asyncio thread; Janus gets the same one)
        return cls(cores[:1], cores[1:])

    def taskset(self, cores: list[int]) -> list[str]:
        return ["taskset", "-c", ",".join(map(str, cores))]


class WorkerProc:
    """A load-generator worker process and its JSON-lines pipe."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def call(self, command: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"worker exited during {command['cmd']}")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"worker failed {command['cmd']}: {reply.get('error')}")
        return reply


async def _spawn(args: list[str], log: Path, stdin: bool = False) -> asyncio.subprocess.Process:
    out = open(log, "ab")
    return await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        limit=1 << 24,
        stdout=asyncio.subprocess.PIPE if stdin else out,
        stderr=out,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Bench:
    """One benchmark session: its cores, its temp dir and its results."""

    def __init__(self, cores: Cores, workers: int, window: float, tmp: Path) -> None:
        self.cores = cores
        self.workers = workers
        self.window = window
        self.tmp = tmp
        self.other_s = 0.0

    async def start_server(self, sfu: str) -> tuple[asyncio.subprocess.Process, int]:
        log = self.tmp / f"{sfu}.log"
        pin = self.cores.taskset(self.cores.server)
        if sfu.startswith("janus"):
            folder = self.tmp / sfu
            folder.mkdir(exist_ok=True)
            config = write_config(folder, JANUS_PORT, 1 if sfu == "janus-1loop" else 0)
            proc = await _spawn(pin + ["janus", "-C", str(config), "-F", str(folder), "-d", "2"], log)
            return proc, JANUS_PORT
        echo = ["--echo"] if sfu == "echo" else []
        proc = await _spawn(pin + [PYTHON, "-m", "bench.media.sfu_server", "--port", str(SFU_PORT), *echo], log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", SFU_PORT)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        return proc, SFU_PORT

    async def start_workers(self, count: int) -> list[WorkerProc]:
        procs = []
        for i in range(count):
            core = self.cores.generator[i % len(self.cores.generator)]
            proc = await _spawn(
                self.cores.taskset([core]) + [PYTHON, "-m", "bench.media.loadgen"],
                self.tmp / f"worker-{i}.log",
                stdin=True,
            )
            procs.append(WorkerProc(proc))
        return procs

    async def run(self, sfu: str, scenario: Scenario) -> dict[str, Any]:
        """Measure one forwarder under one scenario."""
        print(f"  {sfu:12} {scenario.name:16}", end=" ", flush=True)
        server, port = await self.start_server(sfu)
        workers = await self.start_workers(min(self.workers, max(scenario.subscriber_count, 1)))
        try:
            result = await self._measure(sfu, scenario, server.pid, port, workers)
        except (RuntimeError, TimeoutError) as exc:
            result = {"sfu": sfu, "scenario": scenario.name, "error": str(exc)}
        finally:
            for w in workers:
                if w.proc.stdin is not None:
                    w.proc.stdin.close()
            await asyncio.gather(*(_stop(w.proc) for w in workers))
            await _stop(server)
        print(report.line(result), flush=True)
        return result

    async def _measure(
        self, sfu: str, scenario: Scenario, pid: int, port: int, workers: list[WorkerProc]
    ) -> dict[str, Any]:
        target = "janus" if sfu.startswith("janus") else "ours"
        send_s = READY_S * 2 + self.window + 30
        for i, w in enumerate(workers):
            create = len(scenario.publishers) + 10 if (target == "janus" and i == 0) else 0
            await w.call({"cmd": "connect", "target": target, "port": port, "create_room": create})
        shares = [scenario.publishers[i :: len(workers)] for i in range(len(workers))]
        await asyncio.gather(
            *(
                w.call({"cmd": "publish", "publishers": share, "seconds": send_s})
                for w, share in zip(workers, shares, strict=True)
                if share
            )
        )
        await asyncio.sleep(1.0)
        rss_base = rss_bytes(pid)
        subs = [scenario.subscribers[i :: len(workers)] for i in range(len(workers))]
        await asyncio.gather(
            *(
                w.call({"cmd": "subscribe", "subscribers": share}, timeout=READY_S * 3)
                for w, share in zip(workers, subs, strict=True)
                if share
            )
        )
        expectations = scenario.expectations(target)
        deadline = time.monotonic() + READY_S
        while True:
            missing = []
            for w, share in zip(workers, subs, strict=True):
                # our policy forwards any LAST_N cameras: ready once the required count flows
                expect = {s["name"]: expectations[s["name"]] for s in share}
                reply = await w.call({"cmd": "ready", "expect": expect})
                missing += reply["missing"]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # past the first keyframes and the policy's first ticks
        t0 = time.monotonic_ns() + 300_000_000
        t1 = t0 + int(self.window * 1e9)
        for w in workers:
            await w.call({"cmd": "window", "t0": t0, "t1": t1})
        await asyncio.sleep((t0 - time.monotonic_ns()) / 1e9)
        perf = await _perf_record(pid, sfu, scenario)
        # our node's own counters over the window: how many packets left in segmented datagrams
        control = await ServerControl.open(port) if target == "ours" else None
        stats0 = (await control.call({"op": "stats"}, "stats"))["stats"] if control else {}
        cpu0, busy0 = cpu_seconds(pid), machine_busy_seconds()
        gen0 = sum(cpu_seconds(w.proc.pid) for w in workers)
        await asyncio.sleep((t1 - time.monotonic_ns()) / 1e9)
        cpu1, busy1 = cpu_seconds(pid), machine_busy_seconds()
        gen1 = sum(cpu_seconds(w.proc.pid) for w in workers)
        segmented_share = None
        if control is not None:
            stats1 = (await control.call({"op": "stats"}, "stats"))["stats"]
            control.close()
            sent = stats1["forwarded_packets"] - stats0["forwarded_packets"]
            if sent > 0:
                segmented_share = round((stats1["segmented_packets"] - stats0["segmented_packets"]) / sent, 3)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            await perf.wait()
        # whatever else the machine ran meanwhile (other sessions share it), for honesty
        self.other_s = (busy1 - busy0) - (cpu1 - cpu0) - (gen1 - gen0)
        rss_end = rss_bytes(pid)
        await asyncio.sleep(0.5)  # packets sent just before t1 are still on their way
        replies = [await w.call({"cmd": "report"}) for w in workers]
        result = self._result(sfu, target, scenario, replies, cpu1 - cpu0, gen1 - gen0, rss_base, rss_end)
        if segmented_share is not None:
            result["segmented_share"] = segmented_share
        return result

    def _result(
        self,
        sfu: str,
        target: str,
        scenario: Scenario,
        replies: list[dict[str, Any]],
        cpu_s: float,
        gen_s: float,
        rss_base: int,
        rss_end: int,
    ) -> dict[str, Any]:
        sent: dict[int, int] = {}
        received_by: dict[str, dict[int, int]] = {}
        delays: list[int] = []
        for reply in replies:
            for stream, n in reply["sent"].items():
                sent[int(stream)] = sent.get(int(stream), 0) + n
            for name, counts in reply["received"].items():
                received_by[name] = {int(k): v for k, v in counts.items()}
            delays += reply["delays_us"]
        delays.sort()
        forwarded = expected = 0
        missing_streams = 0
        for name, (candidates, required) in scenario.expectations(target).items():
            got = received_by.get(name, {})
            forwarded += sum(got.values())
            # the streams it should get: those it received most of, then any others
            chosen = sorted(candidates, key=lambda s: -got.get(s, 0))[:required]
            expected += sum(sent.get(s, 0) for s in chosen)
            missing_streams += sum(1 for s in chosen if not got.get(s))
        n = max(scenario.subscriber_count, 1)
        return {
            "sfu": sfu,
            "scenario": scenario.name,
            "kind": scenario.kind,
            "subscribers": scenario.subscriber_count,
            "subscription": scenario.subscription.get(target),
            "window_s": self.window,
            "offered_pps": round(scenario.offered_pps(target), 1),
            "forwarded_pps": round(forwarded / self.window, 1),
            "expected_packets": expected,
            "forwarded_packets": forwarded,
            "loss": round(1 - forwarded / expected, 5) if expected else None,
            "missing_streams": missing_streams,
            "server_cpu_pct": round(100 * cpu_s / self.window, 1),
            "generator_cpu_pct": round(100 * gen_s / self.window, 1),
            "other_cpu_pct": round(100 * self.other_s / self.window, 1),
            "cpu_us_per_packet": round(cpu_s * 1e6 / forwarded, 2) if forwarded else None,
            "cpu_pct_per_subscriber": round(100 * cpu_s / self.window / n, 3),
            "pps_per_core_estimate": round(forwarded / cpu_s) if cpu_s else None,
            "delay_p50_ms": _ms(percentile(delays, 0.50)),
            "delay_p99_ms": _ms(percentile(delays, 0.99)),
            "rss_mb": round(rss_end / 2**20, 1),
            "rss_kb_per_subscriber": round((rss_end - rss_base) / 1024 / n, 1),
        }

    async def echo(self, rate: float, streams: int) -> dict[str, Any]:
        """Measure the generator's own ceiling: stamped packets at a rate, no forwarder."""
        print(f"  {'echo':12} {f'{rate:.0f} pps':16}", end=" ", flush=True)
        server, port = await self.start_server("echo")
        workers = await self.start_workers(self.workers)
        result: dict[str, Any] = {"rate": rate, "streams": streams}
        try:
            for w in workers:
                await w.call({"cmd": "connect", "target": "echo", "port": port})
            seconds = READY_S + self.window + 10
            shares = [list(range(i, streams, len(workers))) for i in range(len(workers))]
            await asyncio.gather(
                *(
                    w.call(
                        {
                            "cmd": "subscribe",
                            "subscribers": [
                                {"name": f"echo-{s}", "rate": rate / streams, "seconds": seconds} for s in share
                            ],
                        },
                        timeout=READY_S * 3,
                    )
                    for w, share in zip(workers, shares, strict=True)
                    if share
                )
            )
            # every subscriber is connected: only now does the echo start sending
            control = await ServerControl.open(port)
            started = await control.call({"op": "start"}, "started")
            if started["streams"] != streams:
                raise RuntimeError(f"only {started['streams']} of {streams} echo streams connected")
            await asyncio.sleep(2.0)
            t0 = time.monotonic_ns() + 200_000_000
            t1 = t0 + int(self.window * 1e9)
            await control.call({"op": "window", "t0": t0, "t1": t1})
            for w in workers:
                await w.call({"cmd": "window", "t0": t0, "t1": t1})
            await asyncio.sleep((t0 - time.monotonic_ns()) / 1e9)
            gen0, drops0 = sum(cpu_seconds(w.proc.pid) for w in workers), udp_receive_buffer_errors()
            echo0, busy0 = cpu_seconds(server.pid), machine_busy_seconds()
            await asyncio.sleep((t1 - time.monotonic_ns()) / 1e9)
            gen1, drops1 = sum(cpu_seconds(w.proc.pid) for w in workers), udp_receive_buffer_errors()
            echo1, busy1 = cpu_seconds(server.pid), machine_busy_seconds()
            await asyncio.sleep(0.5)
            sent = await control.call({"op": "sent"}, "sent")
            control.close()
            received = 0
            paths = set()
            for w in workers:
                reply = await w.call({"cmd": "report"})
                received += sum(sum(c.values()) for c in reply["received"].values())
                paths.add(reply["receive_path"])
            gen_s = gen1 - gen0
            result.update(
                {
                    "sent_pps": round(sent["sent"] / self.window, 1),
                    "received_pps": round(received / self.window, 1),
                    "loss": round(1 - received / sent["sent"], 4) if sent["sent"] else 1.0,
                    "receive_buffer_drops": drops1 - drops0,
                    "generator_cpu_pct": round(100 * gen_s / self.window, 1),
                    "echo_server_cpu_pct": round(100 * (echo1 - echo0) / self.window, 1),
                    "other_cpu_pct": round(100 * ((busy1 - busy0) - (echo1 - echo0) - gen_s) / self.window, 1),
                    "generator_us_per_packet": round(gen_s * 1e6 / received, 2) if received else None,
                    "generator_pps_per_core": round(received / gen_s) if gen_s and received else None,
                    "receive_path": ",".join(sorted(paths)),
                    "echo_sender": sent["sender"],
                    "echo_sender_stats": sent["sender_stats"],
                }
            )
        except (RuntimeError, TimeoutError) as exc:
            # not a measurement: the echo could not be set up, and the report says so
            result["error"] = str(exc) or type(exc).__name__
        finally:
            for w in workers:
                if w.proc.stdin is not None:
                    w.proc.stdin.close()
            await asyncio.gather(*(_stop(w.proc) for w in workers))
            await _stop(server)
        print(report.echo_line(result), flush=True)
        return result


class ServerControl:
    """The runner's own JSON-lines connection to sfu_server: start, window, sent (echo), stats (ours)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> ServerControl:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def call(self, request: dict[str, Any], reply: str | None = None) -> dict[str, Any]:
        """Send a request; with reply, wait for the answer of that op."""
        self.writer.write((json.dumps(request) + "\n").encode())
        await self.writer.drain()
        async with asyncio.timeout(10):
            while reply is not None:
                line = await self.reader.readline()
                if not line:
                    raise RuntimeError("the bench server closed its connection")
                message: dict[str, Any] = json.loads(line)
                if message["op"] == reply:
                    return message
        return {}

    def close(self) -> None:
        self.writer.close()


async def _perf_record(pid: int, sfu: str, scenario: Scenario) -> asyncio.subprocess.Process | None:
    """With BENCH_PERF=folder, record the forwarder's call graphs over the window with Linux perf.

    With BENCH_PYSPY=folder instead, sample our forwarder's Python stacks with py-spy.
    """
    folder = os.environ.get("BENCH_PERF")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        out = Path(folder) / f"{sfu}-{scenario.name}.data"
        args = ["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p", str(pid), "-o", str(out)]
    else:
        # BENCH_PYSPY=folder: Python's own frames, which perf cannot name on Python 3.11
        folder = os.environ.get("BENCH_PYSPY", "")
        if not folder or sfu != "ours":
            return None
        Path(folder).mkdir(parents=True, exist_ok=True)
        out = Path(folder) / f"{sfu}-{scenario.name}.txt"
        args = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--nonblocking",
            "-r",
            "250",
            "-f",
            "raw",
            "-p",
            str(pid),
            "-o",
            str(out),
        ]
    return await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000, 2)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--full", action="store_true", help="all sizes, the 50/80 %% load points and the discussion sweep"
    )
    parser.add_argument("--window", type=float, help="steady measurement window, seconds")
    parser.add_argument("--workers", type=int, help="load-generator processes")
    parser.add_argument("--only", help="comma-separated forwarders: ours,janus,janus-1loop")
    parser.add_argument(
        "--echo-only",
        action="store_true",
        help="only the generator's headroom: echo runs against the highest forwarded rate of --json",
    )
    parser.add_argument("--echo-rates", help="comma-separated pkt/s for --echo-only, instead of 2.2x, 3x, 4x")
    parser.add_argument("--echo-streams", type=int, help="echo subscribers (default: the largest run's, at least 20)")
    parser.add_argument("--lectures", help="comma-separated lecture sizes, instead of the mode's")
    parser.add_argument("--discussions", help="comma-separated discussion sizes, instead of the mode's")
    parser.add_argument(
        "--discussion-sweep",
        help="comma-separated discussion sizes to climb per forwarder (Janus subscribing to every microphone)"
        " until one fails, instead of the mode's",
    )
    parser.add_argument(
        "--groups", help="comma-separated sizes of a class split into groups of 5, instead of the mode's"
    )
    parser.add_argument("--no-echo", action="store_true", help="skip the generator's headroom runs")
    parser.add_argument("--logs", help="keep the processes' logs in this folder")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "media.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if os.environ.get("CV_IN_NETNS") != "1":
        sys.exit("run through bench/run: the benchmark needs scripts/netns-run's namespace")
    cores = Cores.split()
    workers = args.workers or min(len(cores.generator), 8)
    window = args.window or (20.0 if args.full else 8.0)
    sfus = ["ours", "janus", "janus-1loop"]
    if janus_binary() is None:
        print("janus is not installed: measuring our forwarder only", flush=True)
        sfus = ["ours"]
    if args.only:
        sfus = [s for s in sfus if s in args.only.split(",")]
    lectures = _sizes(args.lectures, [10, 40, 100, 200] if args.full else [10, 40])
    discussions = _sizes(args.discussions, [40] if args.full else [12])
    scenarios = [lecture(n) for n in lectures] + [discussion(n) for n in discussions]
    scenarios += [groups(n) for n in _sizes(args.groups, [40] if args.full else [])]
    sweep = _sizes(args.discussion_sweep, SWEEP_SIZES if args.full else [])
    print(
        f"cores: forwarder {cores.server}, generator {cores.generator} ({workers} workers); window {window:.0f} s",
        flush=True,
    )
    if args.echo_only:
        await echo_only(cores, workers, window, args)
        return
    with _logs(args.logs) as tmp:
        bench = Bench(cores, workers, window, tmp)
        runs = [await bench.run(sfu, s) for s in scenarios for sfu in sfus]
        if args.full:
            runs += await _load_points(bench, sfus, runs)
        for sfu in sfus if sweep else []:
            runs += await _discussion_sweep(bench, sfu, sweep)
        top = max((r.get("forwarded_pps", 0) for r in runs), default=0)
        streams = args.echo_streams or _echo_streams(runs)
        echoes: list[dict[str, Any]] = []
        # a little over twice, so that passing the first step means at least twice
        for factor in () if args.no_echo else (2.2, 3, 4):
            echo = await bench.echo(max(top, 1000) * factor, streams)
            echoes.append(echo)
            if "error" in echo or echo["loss"] > 0.01:
                break
    results = {
        "machine": _machine(cores, workers),
        "mode": "full" if args.full else "quick",
        "window_s": window,
        "runs": runs,
        "echo": echoes,
        "highest_forwarded_pps": top,
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, Path(args.doc))
    print(report.summary(results))


async def echo_only(cores: Cores, workers: int, window: float, args: argparse.Namespace) -> None:
    """Measure the generator's headroom alone, against the highest rate of the last results.

    Prints, and writes neither the results nor the doc: those belong to a whole run.
    """
    results = json.loads(Path(args.json).read_text())
    top = results["highest_forwarded_pps"]
    rates = [float(r) for r in args.echo_rates.split(",")] if args.echo_rates else [top * f for f in (2.2, 3, 4)]
    streams = args.echo_streams or _echo_streams(results["runs"])
    print(f"highest forwarded rate in {args.json}: {top:,.0f} pkt/s", flush=True)
    with _logs(args.logs) as tmp:
        bench = Bench(cores, workers, window, tmp)
        results["echo"] = [await bench.echo(rate, streams) for rate in rates]
    results["machine"] = _machine(cores, workers)
    print(report.headroom(results))


def _sizes(option: str | None, default: list[int]) -> list[int]:
    """Return the sizes of a comma-separated option ("" for none), or the mode's."""
    if option is None:
        return default
    return [int(n) for n in option.split(",") if n.strip()]


def _echo_streams(runs: list[dict[str, Any]]) -> int:
    """Return as many echo subscribers as the largest run had, at least 20."""
    return max([20] + [int(r["subscribers"]) for r in runs if "subscribers" in r])


@contextlib.contextmanager
def _logs(folder: str | None) -> Iterator[Path]:
    """Yield the folder for the processes' logs and Janus's configs: a kept one, or a temporary one."""
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="cv-bench-") as tmp:
        yield Path(tmp)


def _machine(cores: Cores, workers: int) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "forwarder_cores": cores.server,
        "generator_cores": cores.generator,
        "generator_workers": workers,
        "python": platform.python_version(),
        "janus": report.janus_version(),
    }


async def _load_points(bench: Bench, sfus: list[str], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run lectures sized at 50 % and 80 % of each forwarder's estimated saturation."""
    per_student = lecture(1).offered_pps()
    extra = []
    for sfu in sfus:
        mine = [r for r in runs if r["sfu"] == sfu and r.get("pps_per_core_estimate")]
        if not mine:
            continue
        saturation = max(mine, key=lambda r: r["forwarded_pps"])["pps_per_core_estimate"]
        for share in (0.5, 0.8):
            students = max(int(share * saturation / per_student), 1)
            if students > 600:
                print(
                    f"  {sfu}: {share:.0%} of saturation is {students} students, past the"
                    " generator's reach on this machine: skipped",
                    flush=True,
                )
                continue
            result = await bench.run(sfu, lecture(students))
            result["load_point"] = share
            extra.append(result)
    return extra


async def _discussion_sweep(bench: Bench, sfu: str, sizes: list[int]) -> list[dict[str, Any]]:
    """Climb discussion sizes for one forwarder until a run fails or the generator's core is the limit.

    Janus subscribes to every other microphone (it has no loudest-N selection) and six cameras;
    ours forwards what its policies choose. The run where the climb ends gets "sweep_stop":
    "failed" (loss, delay, missing streams or a setup error), "generator" (the generator reached
    GENERATOR_LIMIT_PCT: not judged) or "generator-next" (the next size would take it there, and
    is skipped).
    """
    runs: list[dict[str, Any]] = []
    for n in sorted(sizes):
        projected = _projected_generator_pct(sfu, runs[-1], n) if runs else 0.0
        if projected >= GENERATOR_LIMIT_PCT:
            print(
                f"  {sfu}: a discussion of {n} would take the generator to about {projected:.0f} % of its core"
                f" (limit {GENERATOR_LIMIT_PCT:.0f} %): skipped",
                flush=True,
            )
            runs[-1]["sweep_stop"] = "generator-next"
            break
        result = await bench.run(sfu, discussion(n, every_mic=True))
        runs.append(result)
        if result.get("generator_cpu_pct", 0) >= GENERATOR_LIMIT_PCT:
            result["sweep_stop"] = "generator"
            break
        if not report.held(result):
            result["sweep_stop"] = "failed"
            break
    return runs


def _projected_generator_pct(sfu: str, last: dict[str, Any], n: int) -> float:
    """Return the generator CPU a discussion of n should take, from the last run of the sweep.

    The generator's work is a part per participant (its publisher and its subscriber: handshakes,
    Python send loops, RTCP), which grows linearly, and a part per received packet, which grows
    as the forwarder's output does (with the square of the participants for Janus).
    """
    if "error" in last:
        return 0.0
    target = "janus" if sfu.startswith("janus") else "ours"
    receive = GENERATOR_RECEIVE_US * 1e-4  # % of a core per received pkt/s
    per_participant = max(float(last["generator_cpu_pct"]) - receive * last["forwarded_pps"], 0.0)
    offered = discussion(n, every_mic=True).offered_pps(target)
    return per_participant * n / last["subscribers"] + receive * offered


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    asyncio.run(main())
