"""The policy tick: what each viewer of a room gets, as pure functions of the room's state and the clock.

The node reads its room into a RoomState (room.py), calls choose(), runs each subscriber's
camera-layer hysteresis on the needs chosen (adaptation.LayerChoice, a state machine on a given
clock), then place() turns a viewer's sources and camera layer into the tracks its slots carry.
Nothing here touches a connection, a slot or the event loop: a track is any hashable the
caller gives, and every result is a new value.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from ..protocol import Layer, Quality
from .selection import SPEAKING_LEVEL, assign_slots, rank_cameras, select_loudest, speaking_ids, videos_for

T = TypeVar("T", bound=Hashable)

Key = tuple[str, str]
"""A source: (peer, "microphone" | "camera" | "screen")."""
Camera = Literal["normal", "low", "off"]
"""A subscriber's cameras: a layer, or off (its link is too weak for video: sound only)."""

NOBODY: frozenset[str] = frozenset()
"""No peer shown small: a viewer with no thumbnails, or the audio slots."""

SUSPEND_AFTER_S = 5.0
"""A normal camera layer that nobody received for this long is no longer sent by its page."""


@dataclass(frozen=True, slots=True)
class Viewing(Generic[T]):
    """A ready subscribe connection as the tick sees it: the sources on its slots, what they carry."""

    audio: tuple[Key | None, ...]
    video: tuple[Key | None, ...]
    forwarding: tuple[T | None, ...] = ()
    """The track each slot forwards now (what it costs the subscriber's link)."""


@dataclass(frozen=True, slots=True)
class PeerState(Generic[T]):
    """One participant as the tick sees it."""

    id: str
    tracks: Mapping[tuple[str, str], T]
    """Its live, allowed tracks by (source, layer), in the order it published them."""
    level: int | None = None
    """The smoothed level of its live microphone; None without one."""
    last_spoke: float = 0.0
    always_forward: bool = False
    quality: Quality = "normal"
    viewing: Viewing[T] | None = None
    small: frozenset[str] = frozenset()
    """The peers whose camera its page shows small (`media.tiles`): it gets them on their low layer."""


@dataclass(frozen=True, slots=True)
class RoomState(Generic[T]):
    """A room at one tick: its peers by id in join order, its loud speakers, what each track costs."""

    peers: Mapping[str, PeerState[T]]
    loudest: tuple[str, ...] = ()
    bitrates: Mapping[T, float] | None = None

    def find(self, key: Key, layer: Layer) -> T | None:
        """Return a source's live track, on the given layer if it is a camera that has it."""
        found = self.find_layer(key, layer)
        return found[1] if found is not None else None

    def find_layer(self, key: Key, layer: Layer) -> tuple[str, T] | None:
        """Return the layer and the track find() gives."""
        peer = self.peers.get(key[0])
        if peer is None:
            return None
        return _track(peer, key[1], layer if key[1] == "camera" else "normal")

    def rate(self, track: T | None) -> float:
        """Return a track's incoming bitrate, 0 if unknown."""
        if track is None or self.bitrates is None:
            return 0.0
        return self.bitrates.get(track, 0.0)


@dataclass(frozen=True, slots=True)
class ViewerChoice:
    """The sources placed on one viewer's slots, and what they would cost its link."""

    audio: tuple[Key | None, ...]
    video: tuple[Key | None, ...]
    need_normal: float
    """Sound plus the videos on their normal camera layers, bits per second."""
    need_low: float
    """Sound plus the videos on their low camera layers."""
    need_audio: float
    """The sound alone."""
    sent_bps: float
    """What its slots forward now."""
    small: frozenset[str] = frozenset()
    """The peers whose camera goes on its low layer whatever the viewer's camera layer (PeerState.small)."""


@dataclass(frozen=True, slots=True)
class Choice:
    """What one tick decided for a room."""

    loudest: tuple[str, ...]
    last_spoke: Mapping[str, float]
    live: Mapping[str, Mapping[str, bool]]
    """Per peer: which of audio, video and screen it publishes and may send."""
    viewers: Mapping[str, ViewerChoice]
    """Per peer with a ready subscribe connection."""
    speaking: tuple[str, ...] = ()
    """The peers speaking now (speaking_ids), sorted."""


def choose(state: RoomState[T], now: float, *, loudest: int, last_n: int) -> Choice:
    """Choose the loud speakers and every viewer's sources at monotonic time now."""
    levels: dict[str, int] = {}
    last_spoke: dict[str, float] = {}
    live: dict[str, Mapping[str, bool]] = {}
    cameras: list[str] = []
    screens: list[str] = []
    for peer in state.peers.values():
        spoke = peer.last_spoke
        if peer.level is not None:
            levels[peer.id] = peer.level
            if peer.level <= SPEAKING_LEVEL:
                spoke = now
        last_spoke[peer.id] = spoke
        camera = _track(peer, "camera", "normal") is not None
        screen = _track(peer, "screen", "normal") is not None
        if camera:
            cameras.append(peer.id)
        if screen:
            screens.append(peer.id)
        live[peer.id] = {"audio": peer.level is not None, "video": camera, "screen": screen}
    loud = tuple(select_loudest(levels, state.loudest, loudest + 1))
    always = [peer.id for peer in state.peers.values() if peer.always_forward]
    pinned, ranked = rank_cameras(cameras, always, last_spoke)
    live_cameras = frozenset(cameras)
    # A viewer's own sources are the only thing that makes its choice its own: one that is none of
    # the loud speakers, screens, always-forwarded or last-N cameras sees the same sources as any
    # other such viewer, and most keep the same slots from tick to tick: one choice per distinct
    # case (a lecture: one in all; a discussion of 40: about last N + a few)
    involved = set(loud) | set(screens) | set(pinned) | set(ranked[:last_n] if last_n >= 0 else ranked)
    cases: dict[tuple[object, ...], tuple[tuple[Key | None, ...], tuple[Key | None, ...], float, float, float]] = {}
    viewers: dict[str, ViewerChoice] = {}
    # what a source costs on a layer, once per tick
    costs: dict[tuple[Key, Layer], float] = {}

    def cost(key: Key | None, layer: Layer) -> float:
        if key is None:
            return 0.0
        found = costs.get((key, layer))
        if found is None:
            found = costs[key, layer] = state.rate(state.find(key, layer))
        return found

    # most viewers' slots forward the same tracks as others': what they cost, once each
    sending: dict[tuple[T | None, ...], float] = {}
    for viewer in state.peers.values():
        viewing = viewer.viewing
        if viewing is None:
            continue
        # only the live cameras it could get count (a page's list may name anyone): viewers
        # that show the same cameras small share a case
        small = viewer.small & live_cameras if viewer.small and viewer.quality != "audio" else NOBODY
        case = (
            viewer.id if viewer.id in involved else None,
            viewer.quality == "audio",
            viewing.audio,
            viewing.video,
            small,
        )
        if case not in cases:
            speakers: list[Key] = [(p, "microphone") for p in loud if p != viewer.id]
            videos: list[Key] = []
            if viewer.quality != "audio":
                videos = videos_for(viewer.id, screens, pinned, ranked, last_n)
            audio = tuple(assign_slots(viewing.audio, speakers[:loudest]))
            video = tuple(assign_slots(viewing.video, videos))
            # what a case's sources cost on each camera layer, and the sound alone
            sound = sum([cost(key, "normal") for key in audio])
            cases[case] = (
                audio,
                video,
                sound + sum([cost(key, tile_layer(key, "normal", small)) for key in video]),
                sound + sum([cost(key, "low") for key in video]),
                sound,
            )
        audio, video, need_normal, need_low, need_audio = cases[case]
        sent = sending.get(viewing.forwarding)
        if sent is None:
            sent = sending[viewing.forwarding] = sum(state.rate(track) for track in viewing.forwarding)
        viewers[viewer.id] = ViewerChoice(audio, video, need_normal, need_low, need_audio, sent, small)
    return Choice(loud, last_spoke, live, viewers, speaking_ids(last_spoke, now))


def place(
    state: RoomState[T], keys: Sequence[Key | None], layer: Layer, small: frozenset[str] = frozenset()
) -> list[tuple[Key, T] | None]:
    """Return the (source, track) each slot carries, on the given camera layer; None: nothing.

    The cameras of the `small` peers go on their low layer (tile_layer).
    """
    placed: list[tuple[Key, T] | None] = []
    for key in keys:
        track = state.find(key, tile_layer(key, layer, small)) if key is not None else None
        placed.append((key, track) if key is not None and track is not None else None)
    return placed


def tile_layer(key: Key | None, layer: Layer, small: frozenset[str]) -> Layer:
    """Return the layer a source goes on for a viewer: a camera its page shows small on the low one.

    A thumbnail (the filmstrip's tiles are about 140x100 CSS pixels) shows no more of the 640x360
    layer than of the 160x90 one, which costs a fifth of the bits and a third of the packets.
    Screens are never lowered: their text needs every pixel.
    """
    if key is not None and key[1] == "camera" and key[0] in small:
        return "low"
    return layer


def video_keys(choice: ViewerChoice, camera: Camera) -> tuple[Key | None, ...]:
    """Return the sources a viewer's video slots carry: none while its cameras are off."""
    return (None,) * len(choice.video) if camera == "off" else choice.video


def video_layer(camera: Camera) -> Layer:
    """Return the camera layer a viewer's video slots take."""
    return "low" if camera == "off" else camera


def watched_layers(state: RoomState[T], viewers: Iterable[tuple[ViewerChoice, Camera]]) -> dict[str, set[str]]:
    """Return, per publisher, the camera layers its viewers get or asked for."""
    watched: dict[str, set[str]] = {}
    for video, camera, small in {(choice.video, camera, choice.small) for choice, camera in viewers}:
        if camera == "off":
            continue
        for key in video:
            if key is not None and key[1] == "camera":
                layer = tile_layer(key, camera, small)
                layers = watched.setdefault(key[0], set())
                layers.add(layer)
                found = state.find_layer(key, layer)
                if found is not None:
                    layers.add(found[0])
    return watched


def camera_layers(
    published: Set[str], watched: Set[str], unwatched_since: float | None, now: float
) -> tuple[float | None, dict[str, bool]] | None:
    """Return (unwatched since, the camera layers a publishing page should send); None: not asked.

    A camera that nobody watches (outside every viewer's last N) costs its publisher's link the
    small layer only, after SUSPEND_AFTER_S. The low layer always goes on: it keeps the camera
    live (and shown as on), serves a new viewer at once while the normal one comes back, and its
    measured bitrate is what tells whether a weak link would gain by it. A layer asked for again
    is sent again at once.
    """
    if published != {"normal", "low"}:
        return None
    if "normal" in watched:
        unwatched_since = None
    elif unwatched_since is None:
        unwatched_since = now
    normal = unwatched_since is None or now - unwatched_since < SUSPEND_AFTER_S
    return unwatched_since, {"normal": normal, "low": True}


def effective_quality(quality: Quality, camera: Camera) -> Quality:
    """Return what a viewer gets, given what it chose and the camera layer its link carries."""
    if quality == "normal" and camera == "low":
        return "low"
    if quality == "normal" and camera == "off":
        return "audio"
    return quality


def _track(peer: PeerState[T], source: str, layer: str) -> tuple[str, T] | None:
    """Return a peer's live track of a source and its layer, preferring the layer given."""
    track = peer.tracks.get((source, layer))
    if track is not None:
        return layer, track
    found: tuple[str, T] | None = None
    for (other, other_layer), candidate in peer.tracks.items():
        if other == source:
            found = other_layer, candidate
    return found
