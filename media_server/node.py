"""MediaNode: the rooms a process forwards, driven by plain dict messages in and out."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import seam
from .forwarding import Slot, Track, segmented_sends
from .ice import ice_servers
from .policy import (
    NOBODY,
    Adaptation,
    Camera,
    Key,
    ViewerChoice,
    camera_layers,
    choose,
    effective_quality,
    place,
    video_keys,
    video_layer,
    watched_layers,
)
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
    Reconnect,
    Restart,
    ServerAnswer,
    ServerMessage,
    ServerOffer,
    SetQuality,
    SetTiles,
    SlotSource,
    Sources,
    ValidationError,
    parse_client_message,
)
from .publisher import Publisher
from .room import Peer, Permissions, Room
from .subscriber import Subscriber

logger = logging.getLogger(__name__)

SendCallback = Callable[[str, str, dict[str, Any]], Awaitable[None]]
SourcesCallback = Callable[[str, str, dict[str, bool]], Awaitable[None]]
SpeakingCallback = Callable[[str, list[str]], Awaitable[None]]

PARK_GRACE_S = 5.0
"""How long a peer that left a room keeps its connections, for a media.join `resume` elsewhere."""

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


SETTING_UP = (Join, Offer, Answer, Candidate, SetTiles)
"""Messages after which the node runs no policy tick of its own: the next periodic one serves.

What the tick reads changes only once a connection is up (a subscriber is `ready` after its DTLS
handshake, a track is live once its packets arrive), which no message marks and the periodic tick
(every 200 ms) sees; a join, an offer, an answer or a candidate only sets a connection up. In a
join storm each would cost a tick of the whole room (a millisecond or two in a room of 30) that
changes nothing. `media.tiles` waits for it too: a speaker change re-lays every page of the room at
once. A resume moves a connection that is up, and a leave, a quality, a restart or permissions
change what is forwarded: those tick at once.
"""


TICK_SLICE_S = 0.005
"""How long the ticker runs rooms' ticks back to back before the loop gets a turn (packets)."""


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
        on_speaking: SpeakingCallback | None = None,
        tick: float = 0.2,
        adaptation: Adaptation | None = None,
        park_grace: float = PARK_GRACE_S,
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
        self._on_speaking = on_speaking
        self._tick = tick
        # when a subscriber who asked for normal quality gets the low camera layer
        self.adaptation = adaptation if adaptation is not None else Adaptation()
        self._rooms: dict[str, Room] = {}
        self.park_grace = park_grace
        # resume token -> its peer, in a room or parked; parked: token -> (room it left, its expiry)
        self._tokens: dict[str, Peer] = {}
        self._parked: dict[str, tuple[str, asyncio.TimerHandle]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # one task ticks every room in turn (see _run)
        self._ticker: asyncio.Task[None] | None = None

    # The application's calls

    async def handle(self, room_id: str, peer_id: str, message: dict[str, Any]) -> None:
        """Apply one media.* message from a browser; raise MediaError if it cannot be applied."""
        try:
            parsed = parse_client_message(message)
        except ValidationError as exc:
            raise MediaError("invalid", _first_error(exc)) from exc
        room = self._room(room_id)
        if isinstance(parsed, Join) and parsed.resume is not None and await self._resume(room, peer_id, parsed):
            await self._update(room)
            return
        peer = room.peers.get(peer_id)
        if peer is None:
            peer = room.peers[peer_id] = Peer(peer_id)
        if isinstance(parsed, Leave):
            await self.leave(room_id, peer_id, park=False)
            return
        async with peer.lock:
            if isinstance(parsed, Join):
                peer.quality = parsed.quality
                peer.camera_layers = None
                peer.small = NOBODY  # the page says again which cameras it shows small
                servers = ice_servers(peer_id, self._turn_url, self._turn_secret, self._turn_ttl)
                await self._emit(room_id, peer_id, Joined(ice_servers=servers, resume=self._new_token(peer)))
                await self._new_subscriber(room, peer, restart=False)
            elif isinstance(parsed, Offer):
                publisher = peer.publisher
                if publisher is None:
                    publisher = Publisher(peer_id, self._public_ip)
                    # a new connection sends every layer until told otherwise
                    peer.camera_layers = None
                try:
                    sdp = await publisher.negotiate(parsed)
                    if peer.closed:
                        # it left (or its room closed) while the offer was applied: keep nothing
                        raise MediaError("conflict", "this participant left while its offer was applied")
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
            elif isinstance(parsed, SetTiles):
                peer.small = frozenset(parsed.small)
            elif isinstance(parsed, Restart):
                if parsed.pc == "publish":
                    if peer.publisher is not None:
                        publisher, peer.publisher = peer.publisher, None
                        await publisher.close()
                else:
                    await self._new_subscriber(room, peer, restart=True)
        if not isinstance(parsed, SETTING_UP):
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

    async def leave(self, room_id: str, peer_id: str, *, park: bool = True) -> None:
        """Take a peer out of a room: parked for a while if it can be resumed (`park`), else closed.

        A parked peer forwards nothing and receives nothing; what it may publish is reset to
        nothing. A media.join with its `resume` token moves it into a room within `park_grace`
        seconds; after that its connections close.
        """
        room = self._rooms.get(room_id)
        if room is None:
            return
        peer = room.peers.pop(peer_id, None)
        if peer is None:
            return
        self._unguest(peer)
        if not (park and self._park(room, peer)):
            await self._drop(peer)
        room.loudest = [p for p in room.loudest if p != peer_id]
        await self._update(room)

    async def relay(self, room_id: str, peer_id: str, to_rooms: list[str], on: bool) -> None:
        """Let a peer's microphone be heard in other rooms of this node too (on), or no longer.

        On, a room nobody joined yet is made here, so that whoever joins it next hears the peer
        (the application sends only rooms placed on this node: `BusClient.relay`).
        """
        for target_id in to_rooms:
            if target_id == room_id:
                continue
            target = self._room(target_id) if on else self._rooms.get(target_id)
            if target is None:
                continue
            source = self._rooms.get(room_id)
            peer = source.peers.get(peer_id) if source is not None else None
            if on and peer is not None:
                target.guests[peer_id] = peer
            else:
                target.guests.pop(peer_id, None)
            await self._update(target)

    def room_ids(self) -> list[str]:
        """The rooms this node holds now."""
        return list(self._rooms)

    async def close_room(self, room_id: str, *, park: bool = False) -> None:
        """Stop all media of a room; with `park`, its peers that can be resumed elsewhere are parked.

        The application parks (a breakout group closing: its members' pages move into the lesson
        and resume there); a node stopping or dropping its rooms closes everything.
        """
        room = self._rooms.pop(room_id, None)
        if room is None:
            return
        # no tick starts on it now; one under way (which may be what calls this) sees its peers go
        room.closed = True
        if not self._rooms and self._ticker is not None:
            ticker, self._ticker = self._ticker, None
            # called from a tick (the app closing a room as it hears of it), the ticker ends by
            # itself at its next round: cancelling it would cancel this call too
            if ticker is not asyncio.current_task():
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        peers = list(room.peers.values())
        room.peers.clear()
        for peer in peers:
            self._unguest(peer)
        closing = [peer for peer in peers if not (park and self._park(room, peer))]
        await asyncio.gather(*(self._drop(peer) for peer in closing))

    async def close(self) -> None:
        """Tell every browser to reconnect elsewhere and stop all rooms (parked peers too)."""
        for room_id, room in list(self._rooms.items()):
            for peer_id in list(room.peers):
                await self._emit(room_id, peer_id, Reconnect(reason="node_closing"))
            await self.close_room(room_id)
        for token in list(self._parked):
            self._expire(token)
        await asyncio.gather(*list(self._closing), return_exceptions=True)

    def stats(self) -> dict[str, int]:
        """Return counters for /healthz and placement: rooms, peers, tracks, forwarded packets."""
        peers = [peer for room in self._rooms.values() for peer in room.peers.values()]
        publishers = [peer.publisher for peer in peers if peer.publisher is not None]
        subscribers = [peer.subscriber for peer in peers if peer.subscriber is not None]
        segmented = segmented_sends()
        return {
            "rooms": len(self._rooms),
            "peers": len(peers),
            "parked": len(self._parked),
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

    # Inside: moving a peer's connections between rooms

    def _new_token(self, peer: Peer) -> str:
        """Give a peer a new resume token (its previous one stops working)."""
        if peer.resume is not None:
            self._tokens.pop(peer.resume, None)
        peer.resume = secrets.token_urlsafe(24)
        self._tokens[peer.resume] = peer
        return peer.resume

    async def _drop(self, peer: Peer) -> None:
        """Close a peer's connections for good."""
        peer.closed = True
        if peer.resume is not None:
            self._tokens.pop(peer.resume, None)
            peer.resume = None
        await _close_peer(peer)

    def _unguest(self, peer: Peer) -> None:
        for other in self._rooms.values():
            if other.guests.get(peer.id) is peer:
                del other.guests[peer.id]

    def _park(self, room: Room, peer: Peer) -> bool:
        """Keep a peer that left `room` for a resume; False if it has nothing worth keeping."""
        token = peer.resume
        if token is None or not _resumable(peer) or self.park_grace <= 0:
            return False
        _isolate(peer)
        handle = asyncio.get_running_loop().call_later(self.park_grace, self._expire, token)
        self._parked[token] = (room.id, handle)
        return True

    def _expire(self, token: str) -> None:
        """The grace of a parked peer is over: close its connections."""
        parked = self._parked.pop(token, None)
        peer = self._tokens.get(token)
        if parked is None or peer is None:
            return
        parked[1].cancel()
        task = asyncio.get_running_loop().create_task(self._drop(peer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _resume(self, room: Room, peer_id: str, join: Join) -> bool:
        """Move the peer of `join.resume` into `room` with its connections; False: join as usual.

        Only a peer of the same user (peer id), parked or in a room of this node, whose subscribe
        connection is up, moves. Its slots are emptied (the room's tick fills them and sends
        media.sources); what it may publish is what this room says.
        """
        token = join.resume
        moved = self._tokens.get(token) if token is not None else None
        if token is None or moved is None or moved.id != peer_id or not _resumable(moved):
            return False
        parked = self._parked.pop(token, None)
        if parked is not None:
            left_id, handle = parked
            handle.cancel()
        else:
            left = next((r for r in self._rooms.values() if r.peers.get(peer_id) is moved), None)
            if left is None:
                return False
            left_id = left.id
            del left.peers[peer_id]
            left.loudest = [p for p in left.loudest if p != peer_id]
            self._unguest(moved)
        # from here the token is spent: a second resume with it joins as usual
        self._tokens.pop(token, None)
        moved.resume = None
        # back in the room it was in (not parked meanwhile): what it may publish there is unchanged
        kept = moved.permissions if parked is None and left_id == room.id else Permissions()
        _isolate(moved)
        left_room = self._rooms.get(left_id)
        if left_room is not None and left_room is not room:
            # a tick of the room it left may be placing its tracks right now: wait for it, then undo that
            async with left_room.lock:
                _isolate(moved)
        # what the application set for the user in this room before the join (no await from here
        # to the peer's taking its place: a set_permissions meanwhile would be lost)
        existing = room.peers.get(peer_id)
        moved.permissions = existing.permissions if existing is not None else kept
        room.peers[peer_id] = moved
        self._apply_permissions(moved)
        moved.quality = join.quality
        moved.small = NOBODY  # the old room's thumbnails: the page says this room's after media.joined
        if existing is not None and existing is not moved:
            await self._drop(existing)  # a peer that was only permissions, or another connection pair
        servers = ice_servers(peer_id, self._turn_url, self._turn_secret, self._turn_ttl)
        await self._emit(room.id, peer_id, Joined(ice_servers=servers, resume=self._new_token(moved), resumed=True))
        if left_room is not None and left_room is not room:
            await self._update(left_room)
        return True

    # Inside

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = Room(room_id)
        if self._ticker is None:
            # a context of its own: not that of the call that happened to open the first room
            ticker = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())
            ticker.add_done_callback(self._ticker_ended)
            self._ticker = ticker
        return room

    async def _run(self) -> None:
        """Tick every room in turn, a round every self._tick seconds, until this is not the ticker.

        One timer for the node, not one per room: the rooms' ticks run back to back, so the
        policy's code and the node's objects are read into the caches once per round, not once
        per room after the forwarder's packets have emptied them. The loop gets a turn between
        rooms once a round has run TICK_SLICE_S (the forwarder's packets wait no longer), and the
        next round starts self._tick after this one started.
        """
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        start = loop.time()
        while self._ticker is me:
            start = max(start + self._tick, loop.time())
            await asyncio.sleep(start - loop.time())
            slice_start = loop.time()
            for room in list(self._rooms.values()):
                if loop.time() - slice_start > TICK_SLICE_S:
                    await asyncio.sleep(0)
                    slice_start = loop.time()
                try:
                    await self._update(room)
                except Exception:
                    logger.exception("media policy failed in room %s", room.id)

    def _ticker_ended(self, task: asyncio.Task[None]) -> None:
        """Forget a ticker that ended other than through close_room: the next room access starts one."""
        if task is not self._ticker:
            return
        self._ticker = None
        if not task.cancelled() and task.exception() is not None:
            logger.error("the media policy ticker failed", exc_info=task.exception())

    async def _emit(self, room_id: str, peer_id: str, message: ServerMessage) -> None:
        await self._send(room_id, peer_id, message.model_dump())

    async def _new_subscriber(self, room: Room, peer: Peer, *, restart: bool) -> None:
        if peer.subscriber is not None:
            subscriber, peer.subscriber = peer.subscriber, None
            await subscriber.close()
        subscriber = Subscriber(peer.id, self._public_ip, self.loudest, self.video_slots, self.adaptation)
        sdp = await subscriber.offer()
        if peer.closed:
            # it left (or its room closed) while the offer was made: nobody would close this one
            await subscriber.close()
            raise MediaError("conflict", "this participant left while its connection was made")
        peer.subscriber = subscriber
        await self._emit(room.id, peer.id, ServerOffer(sdp=sdp, restart=restart))

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
            if not room.closed:
                await self._update_locked(room)

    async def _update_locked(self, room: Room) -> None:
        now = time.monotonic()
        for peer in room.peers.values():
            if peer.publisher is not None:
                peer.publisher.measure(now)
        state = room.state(seam.current_ms())
        choice = choose(state, now, loudest=self.loudest, last_n=self.last_n)
        room.loudest = list(choice.loudest)
        peers = list(room.peers.values())
        # the connections the choice was made for (a restart while a message is sent replaces one)
        observed = {peer.id: peer.subscriber for peer in peers}
        for peer in peers:
            peer.last_spoke = choice.last_spoke[peer.id]
            # a peer that moved to another room meanwhile (MediaNode._resume) is that room's now
            if room.peers.get(peer.id) is peer:
                await self._report_live(room, peer, dict(choice.live[peer.id]))
        if choice.speaking != room.speaking:
            room.speaking = choice.speaking
            if self._on_speaking is not None:
                await self._on_speaking(room.id, list(choice.speaking))
        cameras: list[tuple[ViewerChoice, Camera]] = []
        # viewers sharing a choice and a camera layer share the tracks too
        placed: dict[tuple[tuple[Key | None, ...], Layer, frozenset[str]], list[tuple[Key, Track] | None]] = {}
        for viewer in peers:
            viewed = choice.viewers.get(viewer.id)
            subscriber = viewer.subscriber
            if viewed is None or subscriber is None or subscriber is not observed[viewer.id]:
                continue
            if room.peers.get(viewer.id) is not viewer:
                continue
            camera = self._camera_layer(viewer, subscriber, viewed, now)
            cameras.append((viewed, camera))
            sides: tuple[tuple[list[Slot], tuple[Key | None, ...], Layer, frozenset[str]], ...] = (
                (subscriber.audio_slots, viewed.audio, "normal", NOBODY),
                (subscriber.video_slots, video_keys(viewed, camera), video_layer(camera), viewed.small),
            )
            for slots, sources, layer, small in sides:
                tracks = placed.get((sources, layer, small))
                if tracks is None:
                    tracks = placed[sources, layer, small] = place(state, sources, layer, small)
                _place(slots, tracks)
            keys = [slot.key for slot in subscriber.slots]
            if keys != subscriber.sent_sources:
                subscriber.sent_sources = keys
                await self._emit(room.id, viewer.id, _sources_message(subscriber.slots))
            await self._tell_quality(room, viewer, camera)
        watched = watched_layers(state, cameras)
        for peer in peers:
            if room.peers.get(peer.id) is peer:
                await self._ask_camera_layers(room, peer, watched.get(peer.id, set()), now)

    async def _ask_camera_layers(self, room: Room, peer: Peer, watched: set[str], now: float) -> None:
        """Tell a publishing page which camera layers to send (the normal one only while watched)."""
        if peer.publisher is None:
            return
        published = {track.layer for track in peer.publisher.tracks.values() if track.source == "camera"}
        asked = camera_layers(published, watched, peer.unwatched_since, now)
        if asked is None:
            return
        peer.unwatched_since, send = asked
        if send != peer.camera_layers:
            peer.camera_layers = send
            await self._emit(room.id, peer.id, CameraLayers(normal=send["normal"], low=send["low"]))

    def _camera_layer(self, viewer: Peer, subscriber: Subscriber, viewed: ViewerChoice, now: float) -> Camera:
        """Choose the camera layer of a subscriber: its own choice, lowered if its link is weak.

        "off" pauses its video (sound only) while even the low layer is too much.
        """
        subscriber.estimator.sent_bps = viewed.sent_bps
        if viewer.quality != "normal" or not self.adaptation.enabled:
            subscriber.layers.reset()
            return "low" if viewer.quality == "low" else "normal"
        layers = subscriber.layers
        estimate = subscriber.estimator.estimate(now)
        low = layers.update(now, estimate, viewed.need_normal, viewed.need_low, viewed.need_audio)
        if layers.paused:
            return "off"
        return "low" if low else "normal"

    async def _tell_quality(self, room: Room, viewer: Peer, camera: Camera) -> None:
        """Tell the browser when what it gets differs from what it chose, and when that ends."""
        effective = effective_quality(viewer.quality, camera)
        adapted = (viewer.quality, effective) if effective != viewer.quality else None
        if adapted == viewer.adapted:
            return
        viewer.adapted = adapted
        message = EffectiveQuality(
            requested=viewer.quality, effective=effective, reason="bandwidth" if adapted is not None else None
        )
        await self._emit(room.id, viewer.id, message)

    async def _report_live(self, room: Room, peer: Peer, live: dict[str, bool]) -> None:
        if live == peer.live:
            return
        peer.live = live
        if self._on_sources is not None:
            await self._on_sources(room.id, peer.id, dict(live))


def _resumable(peer: Peer) -> bool:
    """Whether a peer's connections are worth moving: its subscribe connection is negotiated."""
    return peer.subscriber is not None and peer.subscriber.negotiated


def _isolate(peer: Peer) -> None:
    """Forward nothing from or to a peer between rooms: refuse its sources, empty its slots."""
    peer.permissions = Permissions()
    if peer.publisher is not None:
        for track in peer.publisher.tracks.values():
            track.close()
            track.allowed = False
    if peer.subscriber is not None:
        for slot in peer.subscriber.slots:
            slot.detach()
            slot.key = None
        peer.subscriber.sent_sources = None
    peer.live = {"audio": False, "video": False, "screen": False}


def _place(slots: list[Slot], placed: list[tuple[Key, Track] | None]) -> None:
    """Move each slot to its placed source's track, or stop it."""
    for slot, found in zip(slots, placed, strict=True):
        if found is None:
            if slot.track is not None or slot.pending is not None:
                slot.detach()
            slot.key = None
            continue
        slot.key, track = found
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
