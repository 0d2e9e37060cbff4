"""The school-morning benchmark's load generator: one process playing some rooms' participants.

bench/school.py starts a few of these (one per core by default) and writes each one JSON line on
stdin: the web ports and the rooms it plays (`RoomSpec`), with their schedule in CLOCK_MONOTONIC
seconds, which every process of the machine shares. Each participant is what a room page is, less
the browser: a room WebSocket with its session cookie, `media.join` and a subscribe connection
answered by aiortc (ICE, DTLS-SRTP), and for those who publish a publish connection sending
pre-made VP8 and Opus packets (bench/media/peers.py: no encoder, no decoder; subscribers count
stamped packets in C). The worker prints one JSON line back when the rooms are done: per room,
the join times, every event's delivery latency, and what each subscriber received in the
measured window against what was sent.

A lesson: the teacher opens the room, publishes a camera and a microphone and shows a deck; the
students arrive evenly over `join_s`, each joins the media, a few publish their camera; then, until
the end, the teacher turns a page every 4 s, a student writes in the chat every 3 s, a student
raises a hand every 5 s (lowered 2 s later) and every 30 s the teacher asks a poll that every
student answers within 5 s. A recess: a supervisor first, then the students, every student
publishing a camera and a microphone (three of them speaking), a chat message every 3 s, and the
page's heartbeat ping every 2 s from everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import websockets

from .media.packets import MIC, SILENT, Profile
from .media.peers import CountingSubscriber, RawPublisher, Stream, Window

# What the room page publishes (static/js/room/media.js): a 640x360 camera at up to 600 kbit/s
# (24 fps asked) with its 160x90 layer at 120 kbit/s (15 fps), and Opus at 40 kbit/s.
CAMERA = Profile("video", 24, 600_000)
CAMERA_LOW = Profile("video", 15, 120_000)
MICROPHONE = Profile("audio", MIC.fps, 40_000)
SPEAKING = 30
CONNECT_S = 30.0
REPLY_S = 20.0
JOIN_ATTEMPTS = 5
PAGES = 20
LAST_N = 6
RECESS_PING_S = 2.0
LOUDEST = 3


def now() -> float:
    return time.monotonic()


async def sleep_until(at: float) -> None:
    await asyncio.sleep(max(0.0, at - now()))


@dataclass
class MemberSpec:
    session: str
    id: str
    camera: bool = False
    microphone: bool = False
    level: int = SILENT


@dataclass
class RoomSpec:
    """One room to play, as the runner describes it."""

    name: str
    kind: str  # "lesson" or "recess"
    room: str
    start: float
    join_s: float
    t0: float  # the media window, CLOCK_MONOTONIC seconds
    t1: float
    end: float
    host: MemberSpec
    members: list[MemberSpec]
    deck: str | None = None
    index: int = 0
    tiles: bool = True
    """Whether the pages say which cameras they show as thumbnails (media.tiles), as the room page does."""

    @classmethod
    def read(cls, raw: dict[str, Any]) -> RoomSpec:
        raw = dict(raw)
        raw["host"] = MemberSpec(**raw["host"])
        raw["members"] = [MemberSpec(**m) for m in raw["members"]]
        return cls(**raw)


class Refused(RuntimeError):
    pass


class Member:
    """One participant: the socket, its reader, and the media connections."""

    def __init__(self, play: RoomPlay, spec: MemberSpec, host: bool) -> None:
        self.play = play
        self.spec = spec
        self.host = host
        self.ws: Any = None
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.media: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.admitted = asyncio.Event()
        self.hands: set[str] = set()
        self.subscriber: CountingSubscriber | None = None
        self.publisher: RawPublisher | None = None
        self.streams: list[Stream] = []
        self.reader: asyncio.Task[None] | None = None
        self.heartbeat: asyncio.Task[None] | None = None
        self.refs = itertools.count(1)
        self.reoffers = 0

    # --- the socket ------------------------------------------------------------------------

    async def page(self, port: int) -> None:
        """GET the room page as a browser does before its socket (HTML only: nginx serves the rest)."""
        began = now()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                f"GET /rooms/{self.play.spec.room}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Cookie: sessionid={self.spec.session}\r\nConnection: close\r\n\r\n".encode()
            )
            response = await asyncio.wait_for(reader.read(), CONNECT_S)
        finally:
            writer.close()
        status = response.split(b" ", 2)[1] if response.count(b" ") >= 2 else b"?"
        if status != b"200":
            raise Refused(f"the room page answered {status.decode(errors='replace')}")
        self.play.pages.append(now() - began)

    async def open(self, port: int) -> float:
        """Load the page, open the socket; return the seconds from opening it to `state` (in the room)."""
        url = f"ws://127.0.0.1:{port}/ws/rooms/{self.play.spec.room}/"
        await self.page(port)
        opened = now()
        for attempt in range(JOIN_ATTEMPTS):
            try:
                self.ws = await websockets.connect(
                    url,
                    origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
                    additional_headers={"Cookie": f"sessionid={self.spec.session}"},
                    open_timeout=CONNECT_S,
                    ping_interval=None,
                    max_size=None,
                )
                break
            except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                # daphne drops a handshake the application did not take within 5 s: a page
                # tries again after its back-off, so does this one (counted)
                self.play.join_retries += 1
                if attempt == JOIN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(1.0)
        self.reader = asyncio.ensure_future(self.read())
        if self.play.spec.kind == "recess":
            self.heartbeat = asyncio.ensure_future(self.beat())
        await asyncio.wait_for(self.admitted.wait(), CONNECT_S * 2)
        return now() - opened

    async def beat(self) -> None:
        """The recess page's heartbeat: a recess socket silent for 4 s is closed (4408)."""
        while True:
            await asyncio.sleep(RECESS_PING_S)
            try:
                await self.ws.send(json.dumps({"type": "ping"}))
            except websockets.ConnectionClosed:
                return

    async def read(self) -> None:
        play = self.play
        try:
            async for raw in self.ws:
                at = now()
                # the common events (participant.joined, media.sources ...) are not parsed
                if raw.startswith('{"type": "ok"') or raw.startswith('{"type": "error"'):
                    event = json.loads(raw)
                    future = self.replies.pop(str(event.get("ref")), None)
                    if future is not None and not future.done():
                        future.set_result(event)
                elif raw.startswith('{"type": "chat.message"'):
                    event = json.loads(raw)
                    if event["message"]["from"]["id"] != self.spec.id:
                        play.delivered(event["message"]["text"], at)
                elif raw.startswith('{"type": "hands"'):
                    queue = set(json.loads(raw)["queue"])
                    for uid in queue - self.hands:
                        if uid in play.raised and uid != self.spec.id:
                            play.delivered(play.raised[uid], at)
                    self.hands = queue
                elif raw.startswith('{"type": "poll.opened"'):
                    if not self.host:
                        event = json.loads(raw)
                        play.delivered(event["poll"]["question"], at)
                elif raw.startswith('{"type": "slides.page"'):
                    if not self.host:
                        play.delivered(f"page-{json.loads(raw)['page']}", at)
                elif raw.startswith('{"type": "state"'):
                    # the hands already up are not news to this participant
                    self.hands = set(json.loads(raw)["hands"])
                    self.admitted.set()
                elif raw.startswith('{"type": "media.camera_layers"'):
                    # as the page's encoders: a camera layer nobody receives stops, and comes back
                    event = json.loads(raw)
                    for stream in self.streams:
                        if stream.source == "camera":
                            stream.paused = not event[stream.layer]
                elif raw.startswith('{"type": "media.'):
                    event = json.loads(raw)
                    self.media.setdefault(event["type"], asyncio.Queue()).put_nowait(event)
                elif raw.startswith('{"type": "room.ended"'):
                    play.errors.append(f"room ended: {raw[:200]}")
        except websockets.ConnectionClosed as closed:
            if not play.closing:
                play.errors.append(f"{'host' if self.host else 'member'} socket closed: {closed.rcvd}")

    async def send(self, message: dict[str, Any]) -> str:
        ref = f"r{next(self.refs)}"
        future = self.replies[ref] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _f: None)
        await self.ws.send(json.dumps({**message, "ref": ref}))
        return ref

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send with a ref and wait for `ok`; the reply's latency counts as an acknowledgement."""
        sent = now()
        ref = await self.send(message)
        reply = await asyncio.wait_for(self.replies[ref], REPLY_S)
        self.play.acks.append(now() - sent)
        if reply["type"] != "ok":
            raise Refused(f"{message['type']}: {reply.get('code')} {reply.get('message')}")
        return reply

    async def media_event(self, kind: str) -> dict[str, Any]:
        return await asyncio.wait_for(self.media.setdefault(kind, asyncio.Queue()).get(), CONNECT_S)

    # --- media -----------------------------------------------------------------------------

    async def join_media(self) -> float:
        """media.join, answer the subscribe offer, publish what this member publishes; return the
        seconds until every connection is up."""
        began = now()
        window = self.play.window
        await self.request({"type": "media.join", "quality": "normal"})
        offer = await self.media_event("media.offer")
        self.subscriber = CountingSubscriber(window)
        answer = await self.subscriber.answer(offer["sdp"])
        await self.request({"type": "media.answer", "pc": "subscribe", "sdp": answer})
        if self.streams:
            self.publisher = RawPublisher(self.streams, window)
            sdp = await self.publisher.offer()
            tracks = [{"mid": s.mid, "source": s.source, "layer": s.layer} for s in self.streams]
            await self.request({"type": "media.offer", "pc": "publish", "sdp": sdp, "tracks": tracks})
            reply = await self.media_event("media.answer")
            await self.publisher.accept(reply["sdp"], CONNECT_S)
            loop = asyncio.get_running_loop()
            self.publisher.start(loop.time() + (self.play.spec.end - now()))
        await self.subscriber.connected(CONNECT_S)
        if self.play.spec.tiles:
            await self.request({"type": "media.tiles", "small": self.play.small_for(self)})
        return now() - began

    async def close(self) -> None:
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await self.publisher.close()
        if self.subscriber is not None:
            with contextlib.suppress(Exception):
                await self.subscriber.close()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        for task in (self.reader, self.heartbeat):
            if task is not None:
                task.cancel()


class RoomPlay:
    """One room's participants and what was measured in it."""

    def __init__(self, spec: RoomSpec, ports: list[int], stream_base: int) -> None:
        self.spec = spec
        self.ports = ports
        self.window = Window(t0=int(spec.t0 * 1e9), t1=int(spec.t1 * 1e9))
        self.host = Member(self, spec.host, host=True)
        self.members = [Member(self, m, host=False) for m in spec.members]
        # event key -> its kind, when it was sent, and how many participants should receive it
        self.sent: dict[str, tuple[str, float, int]] = {}
        self.got: dict[str, int] = {}
        self.latencies: dict[str, list[float]] = {"chat": [], "hand": [], "poll": [], "slide": []}
        self.acks: list[float] = []
        self.joins: list[float] = []
        self.pages: list[float] = []
        self.media_joins: list[float] = []
        self.join_retries = 0
        self.errors: list[str] = []
        self.raised: dict[str, str] = {}  # user id -> the key of their latest raised hand
        self.host_join = 0.0
        self.closing = False
        self.votes = 0
        # stream ids: unique in this process, so that stamps never mix rooms
        sid = itertools.count(stream_base)
        for m in [self.host, *self.members]:
            if m.spec.microphone:
                m.streams.append(Stream(next(sid), "microphone", MICROPHONE, m.spec.level))
            if m.spec.camera:
                m.streams.append(Stream(next(sid), "camera", CAMERA, SILENT))
                m.streams.append(Stream(next(sid), "camera", CAMERA_LOW, SILENT, layer="low"))

    def small_for(self, member: Member) -> list[str]:
        """The cameras a participant's page shows as thumbnails (static/js/room/stage.js).

        A lesson shows its deck on the stage: every camera is in the filmstrip. A recess
        supervisor's page is a grid, on a laptop: its at most 9 cameras (the video slots) in 3 x 3
        at about 350 px each, none small (Stage.fitGrid; a phone's would be). A recess student's
        page features a speaker (the first that speaks, here) and shows the other cameras small.
        """
        others = [m for m in [self.host, *self.members] if m is not member and m.spec.camera]
        if self.spec.kind == "lesson":
            return [m.spec.id for m in others]
        if member.host:
            return []
        featured = next((m for m in others if m.spec.level < SILENT), None)
        return [m.spec.id for m in others if m is not featured]

    def port(self, i: int) -> int:
        return self.ports[i % len(self.ports)]

    def present(self, host: bool) -> list[Member]:
        """The participants in the room now (admitted, socket open), the host first if asked."""
        everyone = [self.host, *self.members] if host else self.members
        return [m for m in everyone if m.admitted.is_set() and m.reader is not None and not m.reader.done()]

    def expect(self, kind: str, key: str, recipients: int) -> None:
        self.sent[key] = (kind, now(), recipients)

    def delivered(self, key: str, at: float) -> None:
        sent = self.sent.get(key)
        if sent is not None:
            self.latencies[sent[0]].append(at - sent[1])
            self.got[key] = self.got.get(key, 0) + 1

    def never_delivered(self) -> int:
        """Count each delivery that never came at the step's end (as late as that), and return how many."""
        missed = 0
        for key, (kind, sent, recipients) in self.sent.items():
            missing = max(0, recipients - self.got.get(key, 0))
            self.latencies[kind] += [self.spec.end - sent] * missing
            missed += missing
        return missed

    # --- the script ------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        try:
            await asyncio.wait_for(self._script(), max(spec.end - now(), 1.0))
        except TimeoutError:
            self.errors.append("the room's script was not done by the end of the step")
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
        await sleep_until(spec.end)
        return self.result()

    async def _script(self) -> None:
        spec = self.spec
        await sleep_until(spec.start)
        self.host_join = await self.host.open(self.port(self.spec.index))
        host_media = asyncio.ensure_future(self._media(self.host))
        if spec.kind == "lesson" and spec.deck:
            await self.host.request({"type": "slides.open", "deck": spec.deck})
        n = len(self.members)
        arrivals = [
            asyncio.ensure_future(self._arrive(i, m, spec.start + 0.5 + spec.join_s * i / max(n, 1)))
            for i, m in enumerate(self.members)
        ]
        activity = asyncio.ensure_future(self._activity())
        try:
            await asyncio.gather(host_media, *arrivals, activity)
        finally:
            for task in [host_media, *arrivals, activity]:
                task.cancel()

    async def _arrive(self, i: int, member: Member, at: float) -> None:
        await sleep_until(at)
        try:
            self.joins.append(await member.open(self.port(i + 1)))
        except Exception as exc:
            self.errors.append(f"join {member.spec.id}: {type(exc).__name__}: {exc}")
            return
        await self._media(member)

    async def _media(self, member: Member) -> None:
        try:
            self.media_joins.append(await member.join_media())
        except Exception as exc:
            self.errors.append(f"media {member.spec.id}: {type(exc).__name__}: {exc}")

    async def _activity(self) -> None:
        """The lesson's (or recess's) events, one tick a second, from the end of the arrivals."""
        spec = self.spec
        rng = random.Random(spec.index)
        begin = spec.start + spec.join_s + 2.0
        tick = 0
        tasks: list[asyncio.Task[None]] = []
        page = 1
        while (at := begin + tick) < spec.end - 3.0:
            await sleep_until(at)
            present = self.present(host=False)
            if present and tick % 3 == 0:
                m = rng.choice(present)
                key = f"{spec.name} chat {tick}"
                self.expect("chat", key, len(self.present(host=True)) - 1)
                tasks.append(asyncio.ensure_future(self._try(m.request({"type": "chat.send", "text": key}))))
            if spec.kind == "lesson":
                if tick % 4 == 0 and spec.deck:
                    page = page % PAGES + 1
                    self.expect("slide", f"page-{page}", len(present))
                    tasks.append(
                        asyncio.ensure_future(self._try(self.host.request({"type": "slides.goto", "page": page})))
                    )
                if present and tick % 5 == 0:
                    m = rng.choice(present)
                    tasks.append(asyncio.ensure_future(self._hand(m)))
                if present and tick % 30 == 5:
                    tasks.append(asyncio.ensure_future(self._poll(tick, present)))
            tick += 1
        await asyncio.gather(*tasks)

    async def _try(self, coroutine: Any) -> None:
        try:
            await coroutine
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    async def _hand(self, member: Member) -> None:
        key = f"hand {member.spec.id} {now()}"
        self.expect("hand", key, len(self.present(host=True)) - 1)
        self.raised[member.spec.id] = key
        await self._try(member.request({"type": "hand.raise"}))
        await asyncio.sleep(2.0)
        await self._try(member.request({"type": "hand.lower"}))

    async def _poll(self, tick: int, voters: list[Member]) -> None:
        question = f"{self.spec.name} question {tick}"
        self.expect("poll", question, len(self.present(host=False)))
        try:
            reply = await self.host.request(
                {"type": "poll.create", "question": question, "options": ["oui", "non", "je ne sais pas"],
                 "anonymous": False, "multiple": False}
            )  # fmt: skip
        except Exception as exc:
            self.errors.append(f"poll: {exc}")
            return
        poll = reply["poll"]["id"]
        start = now()

        async def vote(i: int, m: Member) -> None:
            await sleep_until(start + 1.0 + 4.0 * i / len(voters))
            await self._try(m.request({"type": "poll.vote", "poll": poll, "choices": [i % 3]}))
            self.votes += 1

        await asyncio.gather(*(vote(i, m) for i, m in enumerate(voters)))

    # --- the result ------------------------------------------------------------------------

    def expectations(self) -> list[tuple[Member, list[int], int]]:
        """Each subscriber, the streams it may get and how many of them it must get."""
        everyone = [self.host, *self.members]
        out = []
        for m in everyone:
            if m.subscriber is None and m.ws is None:
                continue
            mics = [
                s for o in everyone if o is not m for s in o.streams if s.source == "microphone" and s.level < SILENT
            ]
            # each other camera on the layer this page asks for it: small (media.tiles) or not
            small = set(self.small_for(m)) if self.spec.tiles else set()
            cams = [
                s
                for o in everyone
                if o is not m
                for s in o.streams
                if s.source == "camera" and s.layer == ("low" if o.spec.id in small else "normal")
            ]
            mics = sorted(mics, key=lambda s: s.level)[:LOUDEST]
            out.append((m, [s.stream_id for s in mics + cams], len(mics) + min(len(cams), LAST_N)))
        return out

    def result(self) -> dict[str, Any]:
        missed = self.never_delivered()
        sent = self.window.sent
        expected = received = missing_streams = 0
        no_media = 0
        for m, candidates, required in self.expectations():
            got = m.subscriber.window_counts if m.subscriber is not None else {}
            if m.subscriber is None:
                no_media += 1
            chosen = sorted(candidates, key=lambda s: -got.get(s, 0))[:required]
            expected += sum(sent.get(s, 0) for s in chosen)
            received += sum(min(got.get(s, 0), sent.get(s, 0)) for s in chosen)
            missing_streams += sum(1 for s in chosen if not got.get(s))
        delays = sorted(self.window.all_delays_us())
        events = [x for v in self.latencies.values() for x in v]
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "participants": 1 + len(self.members),
            "joined": len(self.joins),
            "host_join_ms": round(self.host_join * 1000, 1),
            "joins_ms": [round(x * 1000, 1) for x in self.joins],
            "pages_ms": [round(x * 1000, 1) for x in self.pages],
            "join_retries": self.join_retries,
            "media_joined": len(self.media_joins),
            "media_join_ms": [round(x * 1000, 1) for x in self.media_joins],
            "events_ms": {k: [round(x * 1000, 2) for x in v] for k, v in self.latencies.items()},
            "event_count": len(events),
            "events_never_delivered": missed,
            "acks_ms": [round(x * 1000, 1) for x in self.acks],
            "votes": self.votes,
            "expected_packets": expected,
            "received_packets": received,
            "missing_streams": missing_streams,
            "without_media": no_media,
            "delays_us": delays[:: max(len(delays) // 20000, 1)],
            "delay_count": len(delays),
            "errors": self.errors[:20],
            "error_count": len(self.errors),
        }

    async def close(self) -> None:
        self.closing = True
        await asyncio.gather(*(m.close() for m in [self.host, *self.members]), return_exceptions=True)


async def loop_lag(lags: list[tuple[float, float]], period: float = 0.05) -> None:
    """How late this process's event loop wakes up: the generator's own headroom."""
    while True:
        due = now() + period
        await asyncio.sleep(period)
        lags.append((due, now() - due))


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    line = await reader.readline()
    if not line:
        return
    job = json.loads(line)
    plays = [RoomPlay(RoomSpec.read(r), job["ports"], 1000 * (i + 1)) for i, r in enumerate(job["rooms"])]
    lags: list[tuple[float, float]] = []
    lagging = asyncio.ensure_future(loop_lag(lags))
    cpu0 = time.process_time()
    try:
        results = await asyncio.gather(*(p.run() for p in plays))
    finally:
        lagging.cancel()
        await asyncio.gather(*(p.close() for p in plays), return_exceptions=True)
    t0, t1 = job["t0"], job["t1"]
    window = sorted(lag for at, lag in lags if t0 <= at < t1) or [0.0]
    every = sorted(lag for _at, lag in lags) or [0.0]
    reply = {
        "rooms": results,
        "cpu_s": time.process_time() - cpu0,
        "lag_window_p99_ms": round(1000 * window[int(0.99 * (len(window) - 1))], 1),
        "lag_window_max_ms": round(1000 * window[-1], 1),
        "lag_p99_ms": round(1000 * every[int(0.99 * (len(every) - 1))], 1),
    }
    print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
