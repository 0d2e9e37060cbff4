"""MediaNode: the rooms a process forwards, driven by plain dict messages in and out."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from . import seam
from .forwarding import Slot, Track, segmented_sends
from .ice import ice_servers
from .policy import SPEAKING_LEVEL, Adaptation, assign_slots, select_loudest, select_video
from .protocol import (
    Answer,
    CameraLayers,
    Candidate,
    EffectiveQuality,
    Join,
    Joined,
    Layer,
    Leave,
    MediaError,
    Offer,
    Quality,
    Reconnect,
    Restart,
    ServerAnswer,
    ServerMessage,
    ServerOffer,
    SetQuality,
    SlotSource,
    Sources,
    ValidationError,
    parse_client_message,
)
from .publisher import Publisher
from .subscriber import Subscriber

logger = logging.getLogger(__name__)

SendCallback = Callable[[str, str, dict[str, Any]], Awaitable[None]]
SourcesCallback = Callable[[str, str, dict[str, bool]], Awaitable[None]]

LIVE_MS = 2000
"""A track that sent nothing for this long is not published any more."""

SUSPEND_AFTER_S = 5.0
"""A normal camera layer that nobody received for this long is no longer sent by its page."""

FULL_COLLECTION_EVERY = 100
"""Young collections between two full ones (Python's default: 10)."""


def tune_collector() -> None:
    """Make Python's full garbage collections rare in a process that forwards media.

    A full collection scans every object alive, and a forwarding process keeps a few thousand per
    connection (aiortc's): with 151 students joining a lecture the node ran 18 of them, 32-107
    ms each, every one a pause in forwarding for the whole room. Waiting for 100 young
    collections instead of 10 between two full ones left 1 (78 ms) for the same joins; young
    collections stay as they were (about 1 ms). Garbage in cycles (closed connections) waits
    longer for its full collection; at most about 700,000 allocations.
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


Key = tuple[str, str]
Camera = Literal["normal", "low", "off"]
"""A subscriber's cameras: a layer, or off (its link is too weak for video: sound only)."""


@dataclass
class Permissions:
    """What the application lets a peer publish; everything is refused until it says so."""

    audio: bool = False
    video: bool = False
    screen: bool = False
    always_forward: bool = False

    def allows(self, source: str) -> bool:
        """Return whether this source may be forwarded."""
        if source == "microphone":
            return self.audio
        if source == "camera":
            return self.video
        return self.screen


@dataclass
class Peer:
    """One participant's media in a room."""

    id: str
    permissions: Permissions = field(default_factory=Permissions)
    quality: Quality = "normal"
    publisher: Publisher | None = None
    subscriber: Subscriber | None = None
    last_spoke: float = 0.0
    live: dict[str, bool] = field(default_factory=lambda: {"audio": False, "video": False, "screen": False})
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the (requested, effective) quality last told to the browser while they differ
    adapted: tuple[Quality, Quality] | None = None
    # the camera layers last asked of the publishing page (None: not asked on this connection),
    # and since when nobody has received its normal layer
    camera_layers: dict[str, bool] | None = None
    unwatched_since: float | None = None

    def track(self, source: str, layer: str, now_ms: int) -> Track | None:
        """Return the live track of a source, preferring the given layer."""
        if self.publisher is None or not self.permissions.allows(source):
            return None
        found: Track | None = None
        for track in self.publisher.tracks.values():
            if track.source == source and now_ms - track.last_rx_ms < LIVE_MS:
                if track.layer == layer:
                    return track
                found = track
        return found


class Room:
    """The peers of one room and who is forwarded to whom."""

    def __init__(self, room_id: str) -> None:
        self.id = room_id
        self.peers: dict[str, Peer] = {}
        self.loudest: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()


class MediaNode:
    """An in-process selective forwarding unit hosting any number of rooms."""

    def __init__(
        self,
        send: SendCallback,
        *,
        public_ip: str | None = None,
        turn_url: str | None = None,
        turn_secret: str | None = None,
        turn_ttl: int = 3600,
        last_n: int = 6,
        loudest: int = 3,
        video_slots: int | None = None,
        on_sources: SourcesCallback | None = None,
        tick: float = 0.2,
        adaptation: Adaptation | None = None,
    ) -> None:
        self._send = send
        self._public_ip = public_ip
        self._turn_url = turn_url
        self._turn_secret = turn_secret
        self._turn_ttl = turn_ttl
        self.last_n = last_n
        self.loudest = loudest
        # screens and always-forwarded cameras on top of the last N
        self.video_slots = video_slots if video_slots is not None else last_n + 3
        self._on_sources = on_sources
        self._tick = tick
        # when a subscriber who asked for normal quality gets the low camera layer
        self.adaptation = adaptation if adaptation is not None else Adaptation()
        self._rooms: dict[str, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # The application's calls

    async def handle(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        """Apply one media.* message from a browser; raise MediaError if it cannot be applied."""
        try:
            parsed = parse_client_message(message)
        except ValidationError as exc:
            raise MediaError("invalid", _first_error(exc)) from exc
        room = self._room(room_id)
        peer = room.peers.get(peer_id)
        if peer is None:
            peer = room.peers[peer_id] = Peer(peer_id)
        if isinstance(parsed, Leave):
            await self.leave(room_id, peer_id)
            return
        async with peer.lock:
            if isinstance(parsed, Join):
                peer.quality = parsed.quality
                peer.camera_layers = None
                servers = ice_servers(peer_id, self._turn_url, self._turn_secret, self._turn_ttl)
                await self._emit(room_id, peer_id, Joined(ice_servers=servers))
                await self._new_subscriber(room, peer, restart=False)
            elif isinstance(parsed, Offer):
                publisher = peer.publisher
                if publisher is None:
                    publisher = Publisher(peer_id, self._public_ip)
                    # a new connection sends every layer until told otherwise
                    peer.camera_layers = None
                try:
                    sdp = await publisher.negotiate(parsed)
                except MediaError:
                    if peer.publisher is None:
                        await publisher.close()
                    raise
                peer.publisher = publisher
                self._apply_permissions(peer)
                await self._emit(room_id, peer_id, ServerAnswer(sdp=sdp))
            elif isinstance(parsed, Answer):
                if peer.subscriber is None or peer.subscriber.negotiated:
                    raise MediaError("conflict", "no subscribe offer is waiting for an answer")
                await peer.subscriber.accept(parsed.sdp)
            elif isinstance(parsed, Candidate):
                pc = peer.publisher if parsed.pc == "publish" else peer.subscriber
                if pc is None:
                    raise MediaError("conflict", f"no {parsed.pc} connection")
                await pc.add_candidate(parsed.candidate, parsed.sdp_mid, parsed.sdp_mline_index)
            elif isinstance(parsed, SetQuality):
                peer.quality = parsed.quality
            elif isinstance(parsed, Restart):
                if parsed.pc == "publish":
                    if peer.publisher is not None:
                        publisher, peer.publisher = peer.publisher, None
                        await publisher.close()
                else:
                    await self._new_subscriber(room, peer, restart=True)
        await self._update(room)

    async def set_permissions(
        self,
        room_id: str,
        peer_id: str,
        *,
        audio: bool,
        video: bool,
        screen: bool,
        always_forward: bool = False,
    ) -> None:
        """Say what a peer may publish; a refused source stops being forwarded at once."""
        room = self._room(room_id)
        peer = room.peers.get(peer_id)
        if peer is None:
            peer = room.peers[peer_id] = Peer(peer_id)
        peer.permissions = Permissions(audio, video, screen, always_forward)
        self._apply_permissions(peer)
        await self._update(room)

    async def leave(self, room_id: str, peer_id: str) -> None:
        """Stop all media of a peer."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        peer = room.peers.pop(peer_id, None)
        if peer is None:
            return
        await _close_peer(peer)
        room.loudest = [p for p in room.loudest if p != peer_id]
        await self._update(room)

    def room_ids(self) -> list[str]:
        """The rooms this node holds now."""
        return list(self._rooms)

    async def close_room(self, room_id: str) -> None:
        """Stop all media of a room."""
        room = self._rooms.pop(room_id, None)
        if room is None:
            return
        if room.task is not None:
            room.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await room.task
        peers = list(room.peers.values())
        room.peers.clear()
        await asyncio.gather(*(_close_peer(peer) for peer in peers))

    async def close(self) -> None:
        """Tell every browser to reconnect elsewhere and stop all rooms."""
        for room_id, room in list(self._rooms.items()):
            for peer_id in list(room.peers):
                await self._emit(room_id, peer_id, Reconnect(reason="node_closing"))
            await self.close_room(room_id)

    def stats(self) -> dict[str, int]:
        """Return counters for /healthz and placement: rooms, peers, tracks, forwarded packets."""
        peers = [peer for room in self._rooms.values() for peer in room.peers.values()]
        publishers = [peer.publisher for peer in peers if peer.publisher is not None]
        subscribers = [peer.subscriber for peer in peers if peer.subscriber is not None]
        segmented = segmented_sends()
        return {
            "rooms": len(self._rooms),
            "peers": len(peers),
            "publishers": len(publishers),
            "subscribers": len(subscribers),
            "tracks": sum(len(p.tracks) for p in publishers),
            "received_packets": sum(t.packets for p in publishers for t in p.tracks.values()),
            "forwarded_packets": sum(slot.packets for s in subscribers for slot in s.slots),
            # in this process: the datagrams that carried several packets, and those packets
            "segmented_sends": segmented[0],
            "segmented_packets": segmented[1],
        }

    def live_sources(self, room_id: str, peer_id: str) -> dict[str, bool]:
        """Return which of a peer's sources are published and forwarded now."""
        room = self._rooms.get(room_id)
        peer = room.peers.get(peer_id) if room is not None else None
        return dict(peer.live) if peer is not None else {"audio": False, "video": False, "screen": False}

    # Inside

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = Room(room_id)
            room.task = asyncio.get_running_loop().create_task(self._run(room))
        return room

    async def _run(self, room: Room) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self._update(room)
            except Exception:
                logger.exception("media policy failed in room %s", room.id)

    async def _emit(self, room_id: str, peer_id: str, message: ServerMessage) -> None:
        await self._send(room_id, peer_id, message.model_dump())

    async def _new_subscriber(self, room: Room, peer: Peer, *, restart: bool) -> None:
        if peer.subscriber is not None:
            subscriber, peer.subscriber = peer.subscriber, None
            await subscriber.close()
        subscriber = Subscriber(peer.id, self._public_ip, self.loudest, self.video_slots, self.adaptation)
        sdp = await subscriber.offer()
        peer.subscriber = subscriber
        await self._emit(room.id, peer.id, ServerOffer(sdp=sdp, restart=restart))

    def _schedule_update(self, room: Room) -> None:
        task = asyncio.get_running_loop().create_task(self._update(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _apply_permissions(self, peer: Peer) -> None:
        if peer.publisher is None:
            return
        for track in peer.publisher.tracks.values():
            allowed = peer.permissions.allows(track.source)
            if track.allowed and not allowed:
                track.close()
            track.allowed = allowed

    async def _update(self, room: Room) -> None:
        """Choose what each subscriber receives, and tell them when it changes."""
        async with room.lock:
            await self._update_locked(room)

    async def _update_locked(self, room: Room) -> None:
        now = time.monotonic()
        now_ms = seam.current_ms()
        peers = list(room.peers.values())
        levels: dict[str, int] = {}
        cameras: list[str] = []
        screens: list[str] = []
        for peer in peers:
            mic = peer.track("microphone", "normal", now_ms)
            if mic is not None:
                levels[peer.id] = mic.level
                if mic.level <= SPEAKING_LEVEL:
                    peer.last_spoke = now
            if peer.track("camera", "normal", now_ms) is not None:
                cameras.append(peer.id)
            if peer.track("screen", "normal", now_ms) is not None:
                screens.append(peer.id)
            await self._report_live(room, peer, mic is not None, peer.id in cameras, peer.id in screens)
        room.loudest = select_loudest(levels, room.loudest, self.loudest + 1)
        for peer in peers:
            if peer.publisher is not None:
                peer.publisher.measure(now)
        always = [peer.id for peer in peers if peer.permissions.always_forward]
        last_spoke = {peer.id: peer.last_spoke for peer in peers}
        # every viewer looks up the same few tracks: once per tick each
        found: dict[tuple[str, str, str], Track | None] = {}

        def find(key: Key, layer: Layer) -> Track | None:
            layer = layer if key[1] == "camera" else "normal"
            wanted = (key[0], key[1], layer)
            if wanted not in found:
                owner = room.peers.get(key[0])
                found[wanted] = owner.track(key[1], layer, now_ms) if owner is not None else None
            return found[wanted]

        # viewers who publish nothing the policies rank see the same sources, and most keep the
        # same slots from tick to tick: one choice per distinct case (a lecture: one in all)
        involved = set(room.loudest) | set(cameras) | set(screens) | set(always)
        chosen: dict[tuple[Any, ...], tuple[list[Key | None], list[Key | None]]] = {}
        rates: dict[Track | None, float] = {}

        def rate(track: Track | None) -> float:
            if track not in rates:
                rates[track] = self._bitrate(room, track)
            return rates[track]

        # what a case's sources cost on each camera layer, and the sound alone: the same for every
        # viewer of the case
        needs: dict[tuple[Any, ...], tuple[float, float, float]] = {}

        def need(case: tuple[Any, ...], audio: list[Key | None], video: list[Key | None]) -> tuple[float, float, float]:
            if case not in needs:
                sound = sum(rate(find(key, "normal")) for key in audio if key is not None)
                needs[case] = (
                    sound + sum(rate(find(key, "normal")) for key in video if key is not None),
                    sound + sum(rate(find(key, "low")) for key in video if key is not None),
                    sound,
                )
            return needs[case]

        # the camera layers each publisher's viewers get (or asked for)
        watched: dict[str, set[str]] = {}
        for viewer in peers:
            subscriber = viewer.subscriber
            if subscriber is None or not subscriber.ready:
                continue
            current = (
                viewer.id if viewer.id in involved else None,
                viewer.quality == "audio",
                tuple(slot.key for slot in subscriber.audio_slots),
                tuple(slot.key for slot in subscriber.video_slots),
            )
            if current not in chosen:
                speakers: list[Key] = [(p, "microphone") for p in room.loudest if p != viewer.id]
                videos: list[Key] = []
                if viewer.quality != "audio":
                    videos = select_video(viewer.id, cameras, screens, always, last_spoke, self.last_n)
                chosen[current] = (
                    assign_slots(list(current[2]), speakers[: self.loudest]),
                    assign_slots(list(current[3]), videos),
                )
            audio, video = chosen[current]
            camera = self._camera_layer(viewer, subscriber, partial(need, current, audio, video), now, rate)
            _place(subscriber.audio_slots, audio, "normal", find)
            if camera == "off":
                # a link too weak for even the low cameras: sound only, until it carries them
                _place(subscriber.video_slots, [None] * len(video), "low", find)
            else:
                _place(subscriber.video_slots, video, camera, find)
                for key in video:
                    if key is not None and key[1] == "camera":
                        layers = watched.setdefault(key[0], set())
                        layers.add(camera)
                        track = find(key, camera)
                        if track is not None:
                            layers.add(track.layer)
            keys = [slot.key for slot in subscriber.slots]
            if keys != subscriber.sent_sources:
                subscriber.sent_sources = keys
                await self._emit(room.id, viewer.id, _sources_message(subscriber.slots))
            await self._tell_quality(room, viewer, camera)
        for peer in peers:
            await self._ask_camera_layers(room, peer, watched.get(peer.id, set()), now)

    async def _ask_camera_layers(self, room: Room, peer: Peer, watched: set[str], now: float) -> None:
        """Tell a publishing page to stop sending its normal camera layer while nobody receives it.

        A camera that nobody watches (outside every viewer's last N) costs its publisher's link
        the small layer only. The low layer always goes on: it keeps the camera live (and shown
        as on), serves a new viewer at once while the normal one comes back, and its measured
        bitrate is what tells whether a weak link would gain by it. A layer asked for again is
        sent again at once.
        """
        if peer.publisher is None:
            return
        layers = {track.layer for track in peer.publisher.tracks.values() if track.source == "camera"}
        if layers != {"normal", "low"}:
            return
        if "normal" in watched:
            peer.unwatched_since = None
        elif peer.unwatched_since is None:
            peer.unwatched_since = now
        send = {"normal": peer.unwatched_since is None or now - peer.unwatched_since < SUSPEND_AFTER_S, "low": True}
        if send != peer.camera_layers:
            peer.camera_layers = send
            await self._emit(room.id, peer.id, CameraLayers(normal=send["normal"], low=send["low"]))

    def _camera_layer(
        self,
        viewer: Peer,
        subscriber: Subscriber,
        need: Callable[[], tuple[float, float, float]],
        now: float,
        rate: Callable[[Track | None], float],
    ) -> Camera:
        """Choose the camera layer of a subscriber: its own choice, lowered if its link is weak.

        need() gives what its sources cost on the normal and on the low camera layer, and the
        sound alone; "off" pauses its video (sound only) while even the low layer is too much.
        """
        subscriber.estimator.sent_bps = sum(rate(slot.track) for slot in subscriber.slots)
        if viewer.quality != "normal" or not self.adaptation.enabled:
            subscriber.layers.reset()
            return "low" if viewer.quality == "low" else "normal"
        need_normal, need_low, need_audio = need()
        layers = subscriber.layers
        low = layers.update(now, subscriber.estimator.estimate(now), need_normal, need_low, need_audio)
        if layers.paused:
            return "off"
        return "low" if low else "normal"

    def _bitrate(self, room: Room, track: Track | None) -> float:
        owner = room.peers.get(track.peer_id) if track is not None else None
        if track is None or owner is None or owner.publisher is None:
            return 0.0
        return owner.publisher.bitrate(track)

    async def _tell_quality(self, room: Room, viewer: Peer, camera: Camera) -> None:
        """Tell the browser when what it gets differs from what it chose, and when that ends."""
        effective: Quality = viewer.quality
        if viewer.quality == "normal" and camera == "low":
            effective = "low"
        elif viewer.quality == "normal" and camera == "off":
            effective = "audio"
        adapted = (viewer.quality, effective) if effective != viewer.quality else None
        if adapted == viewer.adapted:
            return
        viewer.adapted = adapted
        message = EffectiveQuality(
            requested=viewer.quality, effective=effective, reason="bandwidth" if adapted is not None else None
        )
        await self._emit(room.id, viewer.id, message)

    async def _report_live(self, room: Room, peer: Peer, audio: bool, video: bool, screen: bool) -> None:
        live = {"audio": audio, "video": video, "screen": screen}
        if live == peer.live:
            return
        peer.live = live
        if self._on_sources is not None:
            await self._on_sources(room.id, peer.id, dict(live))


def _place(
    slots: list[Slot], placed: list[Key | None], camera: Layer, find: Callable[[Key, Layer], Track | None]
) -> None:
    """Move each slot to its placed source's track, on the viewer's camera layer."""
    for slot, key in zip(slots, placed, strict=True):
        track = find(key, camera) if key is not None else None
        if track is None:
            if slot.track is not None or slot.pending is not None:
                slot.detach()
            slot.key = None
            continue
        slot.key = key
        if slot.pending is not track and slot.track is not track:
            slot.attach(track)


def _sources_message(slots: list[Slot]) -> Sources:
    return Sources(
        slots=[
            SlotSource(
                mid=slot.mid,
                kind=slot.kind,
                peer=slot.key[0] if slot.key else None,
                source=slot.key[1] if slot.key else None,  # type: ignore[arg-type]
            )
            for slot in slots
        ]
    )


async def _close_peer(peer: Peer) -> None:
    if peer.publisher is not None:
        await peer.publisher.close()
        peer.publisher = None
    if peer.subscriber is not None:
        await peer.subscriber.close()
        peer.subscriber = None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
