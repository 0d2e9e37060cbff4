"""A room's media state: its peers, what each may publish, and the room read for the policy tick."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .forwarding import Track
from .policy import PeerState, RoomState, Viewing
from .protocol import Quality
from .publisher import Publisher
from .subscriber import Subscriber

LIVE_MS = 2000
"""A track that sent nothing for this long is not published any more."""


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
    # the token that lets this peer's connections move to another room (media.join `resume`)
    resume: str | None = None
    # the peers whose camera its page shows small (media.tiles): their low layer is enough
    small: frozenset[str] = frozenset()
    # closed for good (MediaNode._drop): a connection made for it meanwhile is closed, not kept
    closed: bool = False

    def state(self, now_ms: int) -> PeerState[Track]:
        """Return this peer as the policy tick sees it at now_ms."""
        tracks: dict[tuple[str, str], Track] = {}
        level: int | None = None
        if self.publisher is not None:
            allows = self.permissions.allows
            for track in self.publisher.tracks.values():
                if now_ms - track.last_rx_ms < LIVE_MS and allows(track.source):
                    tracks[track.source, track.layer] = track
                    if track.source == "microphone":
                        level = track.level
        subscriber = self.subscriber
        viewing: Viewing[Track] | None = None
        if subscriber is not None and subscriber.ready:
            slots = subscriber.slots
            viewing = Viewing(
                tuple([slot.key for slot in subscriber.audio_slots]),
                tuple([slot.key for slot in subscriber.video_slots]),
                tuple([slot.track for slot in slots]),
            )
        return PeerState(
            self.id, tracks, level, self.last_spoke, self.permissions.always_forward, self.quality, viewing, self.small
        )


class Room:
    """The peers of one room and who is forwarded to whom."""

    def __init__(self, room_id: str) -> None:
        self.id = room_id
        self.peers: dict[str, Peer] = {}
        self.loudest: list[str] = []
        # who spoke last tick (policy.speaking_ids), reported when it changes
        self.speaking: tuple[str, ...] = ()
        # closed by MediaNode.close_room: its peers are gone, nothing ticks it again
        self.closed = False
        self.lock = asyncio.Lock()
        # peers of another room of this node whose microphone is heard here too (MediaNode.relay)
        self.guests: dict[str, Peer] = {}

    def state(self, now_ms: int) -> RoomState[Track]:
        """Return the room as the policy tick sees it at now_ms (the clock of the tracks' arrivals)."""
        peers = {peer.id: peer.state(now_ms) for peer in self.peers.values()}
        for guest in self.guests.values():
            if guest.id not in peers:
                heard = guest_state(guest.state(now_ms))
                if heard is not None:
                    peers[guest.id] = heard
        bitrates: dict[Track, float] = {}
        for peer in (*self.peers.values(), *self.guests.values()):
            if peer.publisher is not None:
                peer.publisher.bitrates(bitrates)
        return RoomState(peers, tuple(self.loudest), bitrates)


GUEST_LEVEL = 0
"""A relayed microphone counts as the loudest (0 dBov): it is heard over the room's own speakers."""


def guest_state(state: PeerState[Track]) -> PeerState[Track] | None:
    """A peer of another room as this room hears it: its live microphone only, loudest; None without one."""
    microphone = state.tracks.get(("microphone", "normal"))
    if microphone is None:
        return None
    return PeerState(state.id, {("microphone", "normal"): microphone}, GUEST_LEVEL, state.last_spoke)
