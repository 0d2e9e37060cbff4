"""Server memory per subscriber: resident memory growth and where it goes.

Run inside the private network namespace (ICE ignores loopback):

    scripts/netns-run .venv/bin/python bench/subscriber_memory.py [--subscribers 30] [--warmup 3]

A MediaNode runs in a child process (so that its memory is the server's alone); this process
drives it with the benchmark's peers (`bench/media/peers.py`): one publisher sending pre-made VP8
(camera, 1 Mbit/s, 30 fps) and Opus (microphone) packets with real ICE and DTLS-SRTP, then
subscribers that join (`media.join`, answer the server's offer: 3 audio and `last_n + 3` video
sendonly transceivers), connect and count what they receive. A few warm-up subscribers join first
and media flows long enough (--settle seconds) for every slot's retransmission ring to fill, so
that what is paid once (imports, codecs, the payloads a ring keeps, which all slots share) is
outside the measurement. Then the server marks a baseline, --subscribers more join, media flows
again, and it reports, divided by the subscribers added:

- untraced run: the growth of its resident memory (VmRSS), of the C heap (glibc `mallinfo2`:
  every `malloc`, Python's objects over 512 bytes included; pymalloc's arenas are mmapped
  apart) and of the live objects by type (what `gc` tracks); then one subscriber's parts
  (slots, aiortc's receivers, senders, transceivers, parsed SDP, DTLS, ICE, ...) as Python sees
  them (sys.getsizeof over gc referents, each object counted once, in that order), and C-side
  figures measured apart: a slot's size (`NativeSlot`'s 512-entry retransmission ring is apart:
  allocated with PyMem by a video slot's first packet, freed when it goes idle; audio has none;
  tracemalloc sees it) and libsrtp's sessions;
- tracemalloc run (tracing costs memory and time of its own, hence a second node): the
  Python-visible growth, grouped by allocating line (top --top) and by file;
- with both runs (the default, --mode both), a last line splitting the RSS growth into Python
  objects, C memory outside Python (OpenSSL's DTLS connections, libsrtp: malloc growth less
  the traced blocks over 512 bytes) and the rest.

--mode rss runs only the first (untraced) measurement, --mode trace only the second.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOM = "bench"
PUBLISHER = "teacher"


class MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_in_use() -> int:
    """Return the bytes glibc's malloc has handed out and not got back (0 if unknown)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return 0
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def rss_bytes() -> int:
    """Return this process's resident set size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sample:
    """The server's memory at one moment."""

    def __init__(self, traced: bool) -> None:
        gc.collect()
        self.rss = rss_bytes()
        self.malloc = malloc_in_use()
        self.types = Counter(_type_name(type(o)) for o in gc.get_objects())
        self.traced = 0
        # kept in a file, not in memory: the next sample would count it as the server's growth
        self.snapshot_file: str | None = None
        if traced:
            self.traced = tracemalloc.get_traced_memory()[0]
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [
                    tracemalloc.Filter(False, tracemalloc.__file__),
                    tracemalloc.Filter(False, __file__),
                    tracemalloc.Filter(False, "<unknown>"),
                ]
            )
            fd, self.snapshot_file = tempfile.mkstemp(suffix=".tracemalloc")
            os.close(fd)
            snapshot.dump(self.snapshot_file)
            del snapshot
            gc.collect()

    def snapshot(self) -> tracemalloc.Snapshot | None:
        """Return the tracemalloc snapshot taken with this sample, if any."""
        if self.snapshot_file is None:
            return None
        snapshot = tracemalloc.Snapshot.load(self.snapshot_file)
        os.unlink(self.snapshot_file)
        self.snapshot_file = None
        return snapshot


def _type_name(cls: type) -> str:
    module = cls.__dict__.get("__module__")
    return f"{module}.{cls.__qualname__}" if isinstance(module, str) else cls.__qualname__


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def report(before: Sample, after: Sample, n: int, top: int) -> tuple[str, dict[str, float]]:
    """Return the per-subscriber growth between two samples, as text and as KB figures."""
    lines = []
    kb = 1024 * n
    figures: dict[str, float] = {}
    heap = after.malloc - before.malloc
    old, new = before.snapshot(), after.snapshot()
    if old is None or new is None:
        rss = after.rss - before.rss
        figures.update(rss=rss / kb, malloc=heap / kb)
        lines.append(f"RSS growth: {rss / kb:7.1f} KB per subscriber ({rss / 2**20:.1f} MB for {n})")
        lines.append(f"malloc in use (C heap, Python objects > 512 B too): {heap / kb:7.1f} KB per subscriber")
    else:
        # RSS is the untraced run's: the first snapshot's memory stays resident, and tracemalloc's
        # own tables (malloc'd) grow with every traced block
        traced = after.traced - before.traced
        large = sum(t.size for t in new.traces if t.size > 512) - sum(t.size for t in old.traces if t.size > 512)
        figures.update(traced=traced / kb, large=large / kb)
        lines.append(f"traced by tracemalloc (Python's allocators): {traced / kb:7.1f} KB per subscriber")
        lines.append(f"  of which blocks over 512 B (malloc'd): {large / kb:7.1f} KB per subscriber")
        lines.append(f"\ntop {top} allocating lines (KB and blocks per subscriber):")
        for stat in new.compare_to(old, "lineno")[:top]:
            frame = stat.traceback[0]
            lines.append(
                f"  {stat.size_diff / kb:7.2f} KB {stat.count_diff / n:7.1f}  {_short(frame.filename)}:{frame.lineno}"
            )
        lines.append("\nby file:")
        for stat in new.compare_to(old, "filename")[:12]:
            lines.append(f"  {stat.size_diff / kb:7.2f} KB  {_short(stat.traceback[0].filename)}")
    lines.append(f"\nlive objects by type (gc-tracked), per subscriber, top {top}:")
    diff = after.types.copy()
    diff.subtract(before.types)
    for name, count in sorted(diff.items(), key=lambda item: -item[1])[:top]:
        if count <= 0:
            break
        lines.append(f"  {count / n:7.1f}  {name}")
    return "\n".join(lines), figures


def summary(figures: dict[str, float]) -> str:
    """Return how the untraced run's RSS growth splits, from both runs' figures (KB/subscriber)."""
    c_side = figures["malloc"] - figures["large"]
    rest = figures["rss"] - figures["traced"] - c_side
    return (
        f"== per subscriber: RSS {figures['rss']:.0f} KB = Python objects {figures['traced']:.0f} KB (tracemalloc)"
        f" + C outside Python {c_side:.0f} KB (malloc growth less traced blocks over 512 B: OpenSSL,"
        f" libsrtp, ...) + {rest:.0f} KB other (allocator slack, pages, runs differ)"
    )


def _reachable(
    roots: list[Any], seen: set[int], stop: tuple[type, ...], stop_ids: set[int]
) -> tuple[int, int, Counter[str]]:
    """Return the bytes, objects and bytes by type reachable from roots, each object once.

    Sizes are sys.getsizeof, links gc.get_referents. Types, modules, functions and code (shared
    by every subscriber), instances of the stop types and the objects in stop_ids are not
    entered; seen collects what was counted.
    """
    total = count = 0
    by_type: Counter[str] = Counter()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in stop_ids or isinstance(obj, stop):
            continue
        seen.add(id(obj))
        size = sys.getsizeof(obj)
        total += size
        count += 1
        by_type[_type_name(type(obj))] += size
        stack.extend(gc.get_referents(obj))
    return total, count, by_type


def breakdown(node: Any) -> str:
    """Return what one connected subscriber's parts hold, each counted once, in this order."""
    import types

    import pylibsrtp
    from aioice.ice import CandidatePair
    from aiortc import RTCPeerConnection
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

    from media_server.forwarding import Output, Track
    from media_server.publisher import Publisher
    from media_server.subscriber import Subscriber

    subscribers = [
        peer.subscriber for room in node._rooms.values() for peer in room.peers.values() if peer.subscriber is not None
    ]
    if not subscribers:
        return ""
    sub: Subscriber = subscribers[-1]
    pc = sub.pc
    transceivers = pc.getTransceivers()
    dtls = transceivers[0].sender.transport
    ice = dtls.transport
    loop = asyncio.get_running_loop()
    shared: tuple[type, ...] = (
        type,
        types.ModuleType,
        types.FunctionType,
        types.CodeType,
        types.BuiltinFunctionType,
        Track,
        Publisher,
        Subscriber,
        RTCPeerConnection,
        asyncio.AbstractEventLoop,
    )
    # every other subscriber and the node's own state stay out
    stop_ids = {id(node), id(loop)} | {id(s) for s in subscribers} | {id(s.pc) for s in subscribers}
    seen: set[int] = set()
    transport_types = (RTCDtlsTransport, RTCIceTransport, RTCIceGatherer)

    def part(roots: list[Any], stop: tuple[type, ...] = ()) -> tuple[int, int, Counter[str]]:
        return _reachable(roots, seen, shared + stop, stop_ids)

    senders = [t.sender for t in transceivers]
    receivers = [t.receiver for t in transceivers]
    tasks = [
        task
        for sender in senders
        for task in (sender._RTCRtpSender__rtp_task, sender._RTCRtpSender__rtcp_task)  # type: ignore[attr-defined]
        if task is not None
    ]
    descriptions = [
        getattr(pc, f"_RTCPeerConnection__{name}")
        for name in (
            "currentLocalDescription",
            "currentRemoteDescription",
            "pendingLocalDescription",
            "pendingRemoteDescription",
        )
    ]
    output_types = (Output, CandidatePair, pylibsrtp.Session, socket.socket)
    waiting = (asyncio.Future, types.CoroutineType)
    parts = [
        (
            "slots (rewriting state; video slots that forward: a 512-entry ring, 9 KB, not counted here)",
            part(list(sub.slots), transport_types + output_types),
        ),
        ("receivers (RTCRtpReceiver: sendonly, never receive)", part(receivers, transport_types)),
        ("senders (RTCRtpSender)", part(senders, transport_types + waiting)),
        ("senders' tasks (aiortc's RTP and RTCP loops, once started)", part(tasks, transport_types)),
        ("transceivers (codec and header extension lists)", part(transceivers, transport_types)),
        ("parsed SDP (local and remote descriptions)", part(descriptions, transport_types)),
        ("DTLS transport (SRTP sessions' Python side)", part([dtls], (RTCIceTransport, RTCIceGatherer))),
        ("ICE transport and aioice connection", part([ice])),
        ("output (Output, Wire)", part([sub.output])),
        ("rest of the peer connection", part([vars(pc)])),
        ("rest of the Subscriber (estimators, maps)", part([vars(sub)])),
    ]
    lines = [
        f"\none subscriber's parts, as Python sees them (sys.getsizeof, each object once; {len(transceivers)} transceivers):"
    ]
    total = 0
    for name, (size, count, by_type) in parts:
        total += size
        largest = ", ".join(f"{t} {b / 1024:.1f}" for t, b in by_type.most_common(3))
        lines.append(
            f"  {size / 1024:7.1f} KB {count:6d} objects  {name}" + (f"\n{'':24}largest: {largest}" if largest else "")
        )
    lines.append(f"  {total / 1024:7.1f} KB total")
    return "\n".join(lines)


def c_side_estimates() -> str:
    """Estimate what the forwarder's own C objects and libsrtp cost per subscriber."""
    from pylibsrtp import Policy, Session

    from media_server import forwarding
    from media_server.forwarding import Slot

    lines = ["\nC side, measured apart:"]
    slot = Slot("video", 1)
    lines.append(
        f"  {type(slot).__name__}: {sys.getsizeof(slot)} bytes each"
        f" without its ring, 12 slots = {12 * sys.getsizeof(slot) / 1024:.1f} KB per subscriber; a video slot"
        f" that forwards adds a ring of {getattr(forwarding.native._fastpath, 'HISTORY', 0) * 18 / 1024:.1f} KB"
        " (PyMem_Calloc: traced)"
    )
    # aiortc makes a tx and an rx session per DTLS transport; the tx one gets a stream per SSRC sent
    count = 50
    gc.collect()
    start = malloc_in_use()
    sessions = []
    for _ in range(count):
        for direction in (Policy.SSRC_ANY_OUTBOUND, Policy.SSRC_ANY_INBOUND):
            policy = Policy(key=os.urandom(44), ssrc_type=direction, srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
            policy.allow_repeat_tx = True
            session = Session(policy)
            if direction == Policy.SSRC_ANY_OUTBOUND:
                for ssrc in range(1, 3):  # the two slots that forward (camera, microphone)
                    session.protect(bytes([0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, ssrc]) + bytes(100))
            sessions.append(session)
    used = malloc_in_use() - start
    lines.append(f"  libsrtp: {used / count / 1024:.1f} KB per subscriber (tx + rx session, 2 streams sent)")
    del sessions
    return "\n".join(lines)


def node_process(conn: Any, traced: bool, nframes: int, top: int) -> None:
    """Host the MediaNode; mark a baseline, then report the growth when told."""
    if traced:
        tracemalloc.start(nframes)
    from bench.media.piped import piped_node

    logging.basicConfig(level=logging.ERROR)

    async def run() -> None:
        node, inbox = piped_node(conn)
        await node.set_permissions(ROOM, PUBLISHER, audio=True, video=True, screen=True, always_forward=True)
        before: Sample | None = None
        while True:
            item = await inbox.get()
            if item == "mark":
                try:
                    before = Sample(traced)
                except Exception:
                    conn.send(("marked", {"text": traceback.format_exc()}))
                    raise
                conn.send(("marked", node.stats()))
            elif isinstance(item, tuple) and item[0] == "measure":
                assert before is not None
                after = Sample(traced)
                text, figures = report(before, after, item[1], top)
                if not traced:
                    text += "\n" + breakdown(node) + "\n" + c_side_estimates()
                conn.send(("report", {"text": text, "figures": figures, "stats": node.stats()}))
                await node.close_room(ROOM)
                return
            else:
                peer, message = item
                try:
                    await node.handle(ROOM, peer, message)
                except Exception as exc:
                    print(f"{peer}: {exc!r}", file=sys.stderr, flush=True)

    try:
        asyncio.run(run())
    except BaseException:
        conn.send(("report", {"text": traceback.format_exc(), "figures": {}, "stats": {}}))
        raise


async def drive(traced: bool, args: argparse.Namespace) -> tuple[str, dict[str, float]]:
    """Run the peers against a node in a child process; return its report and figures."""
    from bench.media.packets import CAMERA, MIC
    from bench.media.peers import CountingSubscriber, RawPublisher, Stream, Window
    from bench.media.piped import PipedPeers

    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=node_process, args=(theirs, traced, args.frames, args.top))
    child.start()
    loop = asyncio.get_running_loop()
    piped = PipedPeers(ours)
    expect = piped.expect
    window = Window()
    publisher = RawPublisher([Stream(1, "camera", CAMERA, 127), Stream(2, "microphone", MIC, 30)], window)
    offer = await publisher.offer()
    tracks = [{"mid": s.mid, "source": s.source, "layer": "normal"} for s in publisher.streams]
    ours.send((PUBLISHER, {"type": "media.offer", "pc": "publish", "sdp": offer, "tracks": tracks}))
    await publisher.accept((await expect(PUBLISHER, "media.answer"))["sdp"], 30)
    publisher.start(loop.time() + 3600)
    subscribers: list[CountingSubscriber] = []

    async def join(count: int) -> None:
        for _ in range(count):
            name = f"s{len(subscribers)}"
            subscriber = CountingSubscriber(window)
            subscribers.append(subscriber)
            ours.send((name, {"type": "media.join", "quality": "normal"}))
            answer = await subscriber.answer((await expect(name, "media.offer"))["sdp"])
            ours.send((name, {"type": "media.answer", "pc": "subscribe", "sdp": answer}))
            await subscriber.connected(30)

    await join(args.warmup)
    await asyncio.sleep(args.settle)
    ours.send("mark")
    marked = await expect("marked")
    if "text" in marked:  # the server failed
        raise RuntimeError(marked["text"])
    started = time.monotonic()
    await join(args.subscribers)
    joined = time.monotonic() - started
    await asyncio.sleep(args.settle)
    received = [sum(s.counts.values()) for s in subscribers[args.warmup :]]
    ours.send(("measure", args.subscribers))
    outcome = await expect("report")
    piped.close()
    for subscriber in subscribers:
        await subscriber.close()
    await publisher.close()
    child.join(20)
    mode = "tracemalloc" if traced else "untraced"
    head = (
        f"== {mode}: {args.subscribers} subscribers after {args.warmup} warm-up ones"
        f" (joined in {joined:.1f} s, then {args.settle:.0f} s of media; each received"
        f" {min(received, default=0)}-{max(received, default=0)} packets)"
    )
    return head + "\n" + str(outcome["text"]), dict(outcome["figures"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=30, help="subscribers measured (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="subscribers joined before the baseline (default 3)")
    parser.add_argument("--settle", type=float, default=12.0, help="seconds of media before each sample (default 12)")
    parser.add_argument("--mode", choices=("both", "rss", "trace"), default="both")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=1, help="tracemalloc frames per allocation (default 1)")
    args = parser.parse_args()
    if os.environ.get("CV_IN_NETNS") != "1":
        parser.error("run it inside the private network namespace: scripts/netns-run .venv/bin/python " + sys.argv[0])
    figures: dict[str, float] = {}
    for traced in {"both": (False, True), "rss": (False,), "trace": (True,)}[args.mode]:
        text, more = asyncio.run(drive(traced, args))
        print(text, flush=True)
        figures.update(more)
    if {"rss", "malloc", "traced", "large"} <= figures.keys():
        print(summary(figures))


if __name__ == "__main__":
    main()
