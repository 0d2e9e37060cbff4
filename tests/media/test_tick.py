"""The node's policy tick: what each viewer of a room is given, with fake connections.

The tick chooses once for every viewer in the same case (one who publishes nothing the policies
rank, with the same slots): these tests check that sharing never gives one viewer another's
choice (its own microphone or camera back, a speaker's exclusion applied to everyone).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.clock import current_ms

from media_server.forwarding import Slot, Track
from media_server.node import MediaNode
from media_server.policy import Adaptation, BandwidthEstimator, LayerChoice
from media_server.policy import tick as tick_module
from media_server.room import Peer, Permissions, Room

pytestmark = pytest.mark.asyncio

ADAPTATION = Adaptation()


def live_track(peer: str, source: str, layer: str = "normal") -> Track:
    """A published track, allowed, that received a packet just now."""
    if source == "microphone":
        track = Track(peer, source, layer, "audio", {111: "audio/opus"})
    else:
        track = Track(peer, source, layer, "video", {96: "video/VP8"})
    track.allowed = True
    track.last_rx_ms = current_ms()
    return track


def publisher(peer: str, level: int | None, camera: bool) -> Any:
    """A publisher's tracks, live now: a microphone at a level, a camera."""
    tracks = {}
    if level is not None:
        tracks["mic"] = live_track(peer, "microphone")
        tracks["mic"].level = level
    if camera:
        tracks["cam"] = live_track(peer, "camera")
    return SimpleNamespace(tracks=tracks, measure=lambda now: None, bitrates=rates(tracks, lambda track: 0.0))


def rates(tracks: dict[str, Any], bps: Callable[[Any], float]) -> Callable[[dict[Any, float]], None]:
    """A fake publisher's Publisher.bitrates: each of its tracks at bps(track)."""
    return lambda into: into.update({track: bps(track) for track in tracks.values()})


def subscriber() -> Any:
    """A subscribe connection ready to forward: three audio slots, four video slots."""
    audio = [Slot("audio", 1000 + i) for i in range(3)]
    video = [Slot("video", 2000 + i) for i in range(4)]
    return SimpleNamespace(
        ready=True,
        audio_slots=audio,
        video_slots=video,
        slots=audio + video,
        sent_sources=None,
        estimator=BandwidthEstimator(ADAPTATION),
        layers=LayerChoice(ADAPTATION),
    )


def given(peer: Peer) -> tuple[set[str], set[str]]:
    """Return whose microphones and whose cameras a viewer's slots are on."""
    assert peer.subscriber is not None
    mics = {slot.key[0] for slot in peer.subscriber.audio_slots if slot.key is not None}
    cameras = {slot.key[0] for slot in peer.subscriber.video_slots if slot.key is not None}
    return mics, cameras


async def test_each_viewer_gets_the_others_sources_never_its_own() -> None:
    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        pass

    node = MediaNode(send, last_n=4)
    room = Room("r")
    everything = Permissions(audio=True, video=True, screen=True)
    speaking, silent = 10, 127
    setups = {
        "teacher": (speaking, True, True),
        "ana": (speaking, True, False),
        "ben": (silent, True, False),
        "chloe": (None, False, False),
        "dan": (None, False, False),
    }
    for name, (level, camera, always) in setups.items():
        permissions = Permissions(audio=True, video=True, screen=True, always_forward=always)
        peer = Peer(name, permissions=permissions if always else everything)
        peer.publisher = publisher(name, level, camera)
        peer.subscriber = subscriber()
        room.peers[name] = peer
    await node._update_locked(room)
    peers = room.peers
    assert given(peers["teacher"]) == ({"ana"}, {"ana", "ben"})
    assert given(peers["ana"]) == ({"teacher"}, {"teacher", "ben"})
    assert given(peers["ben"]) == ({"teacher", "ana"}, {"teacher", "ana"})
    # the two who publish nothing share one choice, and it leaves nobody out
    assert given(peers["chloe"]) == given(peers["dan"]) == ({"teacher", "ana"}, {"teacher", "ana", "ben"})

    # ben speaks up: the next tick gives him to everyone else, whatever they had
    peers["ben"].publisher.tracks["mic"].level = speaking
    await node._update_locked(room)
    assert given(peers["chloe"]) == given(peers["dan"]) == ({"teacher", "ana", "ben"}, {"teacher", "ana", "ben"})
    assert given(peers["ben"])[0] == {"teacher", "ana"}
    assert given(peers["ana"])[0] == {"teacher", "ben"}

    # an audio-only viewer among them gets the same voices and no camera
    peers["dan"].quality = "audio"
    await node._update_locked(room)
    assert given(peers["dan"]) == ({"teacher", "ana", "ben"}, set())
    assert given(peers["chloe"]) == ({"teacher", "ana", "ben"}, {"teacher", "ana", "ben"})


async def test_viewers_sharing_a_choice_still_get_the_camera_layer_their_own_link_carries() -> None:
    # the cost of a case's sources is worked out once per tick; each viewer's estimate still decides
    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        pass

    adaptation = Adaptation(down_after_s=0.0)
    node = MediaNode(send, adaptation=adaptation)
    room = Room("r")
    teacher = Peer("teacher", permissions=Permissions(audio=True, video=True, screen=True, always_forward=True))
    tracks = {layer: live_track("teacher", "camera", layer) for layer in ("normal", "low")}
    teacher.publisher = SimpleNamespace(
        tracks=tracks,
        measure=lambda now: None,
        bitrates=rates(tracks, lambda track: 1_000_000.0 if track.layer == "normal" else 100_000.0),
    )
    room.peers["teacher"] = teacher
    for name, estimate in (("weak", 300_000.0), ("strong", 5_000_000.0), ("unknown", None)):
        viewer = Peer(name, permissions=Permissions(audio=True, video=True, screen=True))
        viewer.subscriber = subscriber()
        viewer.subscriber.estimator = SimpleNamespace(sent_bps=0.0, estimate=lambda now, value=estimate: value)
        viewer.subscriber.layers = LayerChoice(adaptation)
        room.peers[name] = viewer
    await node._update_locked(room)

    def layer(name: str) -> str:
        subscriber = room.peers[name].subscriber
        assert subscriber is not None
        slot = next(slot for slot in subscriber.video_slots if slot.key == ("teacher", "camera"))
        track = slot.pending or slot.track
        assert track is not None
        return track.layer

    assert layer("weak") == "low"
    assert layer("strong") == "normal"
    assert layer("unknown") == "normal"


async def test_a_link_too_weak_for_the_low_cameras_gets_the_sound_only_and_is_told() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        sent.append((peer, message))

    adaptation = Adaptation(down_after_s=0.0, pause_after_s=0.0, up_after_s=0.0)
    node = MediaNode(send, adaptation=adaptation)
    room = Room("r")
    teacher = Peer("teacher", permissions=Permissions(audio=True, video=True, screen=True, always_forward=True))
    tracks = {}
    bps_of = {}
    for name, (source, layer, bps) in {
        "mic": ("microphone", "normal", 40_000.0),
        "cam": ("camera", "normal", 1_000_000.0),
        "cam-low": ("camera", "low", 100_000.0),
    }.items():
        tracks[name] = live_track("teacher", source, layer)
        bps_of[id(tracks[name])] = bps
    tracks["mic"].level = 10  # speaking
    teacher.publisher = SimpleNamespace(
        tracks=tracks, measure=lambda now: None, bitrates=rates(tracks, lambda t: bps_of[id(t)])
    )
    room.peers["teacher"] = teacher
    estimates = {"phone": 50_000.0, "computer": 5_000_000.0}
    for name in estimates:
        viewer = Peer(name, permissions=Permissions(audio=True, video=True, screen=True))
        viewer.subscriber = subscriber()
        viewer.subscriber.estimator = SimpleNamespace(sent_bps=0.0, estimate=lambda now, n=name: estimates[n])
        viewer.subscriber.layers = LayerChoice(adaptation)
        room.peers[name] = viewer
    await node._update_locked(room)

    def given_now(name: str) -> tuple[set[str], set[str]]:
        subscriber = room.peers[name].subscriber
        assert subscriber is not None
        mics = {s.key[1] for s in subscriber.audio_slots if s.key is not None}
        videos = {(s.pending or s.track).layer for s in subscriber.video_slots if s.key is not None}  # type: ignore[union-attr]
        return mics, videos

    assert given_now("phone") == ({"microphone"}, set())
    assert given_now("computer") == ({"microphone"}, {"normal"})
    quality = [m for peer, m in sent if peer == "phone" and m["type"] == "media.quality"]
    assert quality[-1]["effective"] == "audio" and quality[-1]["reason"] == "bandwidth"
    assert not [m for peer, m in sent if peer == "computer" and m["type"] == "media.quality"]

    # the phone's link gets better: the low cameras first, then the normal ones
    estimates["phone"] = 200_000.0
    await node._update_locked(room)
    assert given_now("phone") == ({"microphone"}, {"low"})
    assert [m for peer, m in sent if peer == "phone" and m["type"] == "media.quality"][-1]["effective"] == "low"
    estimates["phone"] = 5_000_000.0
    await node._update_locked(room)
    assert given_now("phone") == ({"microphone"}, {"normal"})
    assert [m for peer, m in sent if peer == "phone" and m["type"] == "media.quality"][-1]["effective"] == "normal"


async def test_a_camera_nobody_watches_sends_only_its_low_layer_until_someone_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        sent.append((peer, message))

    def asked(peer: str) -> dict[str, bool] | None:
        messages = [m for p, m in sent if p == peer and m["type"] == "media.camera_layers"]
        return {"normal": messages[-1]["normal"], "low": messages[-1]["low"]} if messages else None

    monkeypatch.setattr(tick_module, "SUSPEND_AFTER_S", 0.0)
    node = MediaNode(send, last_n=1)
    room = Room("r")
    for name in ("teacher", "ana", "dan"):
        peer = Peer(
            name, permissions=Permissions(audio=True, video=True, screen=True, always_forward=name == "teacher")
        )
        tracks = {layer: live_track(name, "camera", layer) for layer in ("normal", "low")}
        tracks["mic"] = live_track(name, "microphone")
        tracks["mic"].level = 10 if name == "teacher" else 127
        peer.publisher = SimpleNamespace(
            tracks=tracks, measure=lambda now: None, bitrates=rates(tracks, lambda track: 0.0)
        )
        room.peers[name] = peer
    for name in ("ben", "chloe"):
        viewer = Peer(name, permissions=Permissions(audio=True, video=True, screen=True))
        viewer.subscriber = subscriber()
        room.peers[name] = viewer
    await node._update_locked(room)
    # everyone watches the teacher and ana on the normal layer; nobody gets dan's (last_n=1)
    assert asked("teacher") == asked("ana") == {"normal": True, "low": True}
    assert asked("dan") == {"normal": False, "low": True}

    # both viewers pick the low quality: nobody needs the teacher's normal layer any more
    room.peers["ben"].quality = room.peers["chloe"].quality = "low"
    await node._update_locked(room)
    assert asked("teacher") == {"normal": False, "low": True}
    # one goes back to normal: the teacher's page sends it again at once
    room.peers["ben"].quality = "normal"
    await node._update_locked(room)
    assert asked("teacher") == {"normal": True, "low": True}

    # dan speaks: his normal layer is wanted; until it flows again ben gets the low one
    room.peers["dan"].publisher.tracks["mic"].level = 10  # type: ignore[union-attr]
    room.peers["dan"].publisher.tracks["normal"].last_rx_ms = current_ms() - 10_000  # type: ignore[union-attr]
    await node._update_locked(room)
    assert asked("dan") == {"normal": True, "low": True}
    ben = room.peers["ben"].subscriber
    assert ben is not None
    slot = next(s for s in ben.video_slots if s.key == ("dan", "camera"))
    assert (slot.pending or slot.track).layer == "low"  # type: ignore[union-attr]
    # the viewers publish no camera: they are never asked anything
    assert not [m for p, m in sent if p in ("ben", "chloe") and m["type"] == "media.camera_layers"]


async def test_the_normal_layer_is_kept_for_a_while_before_it_is_suspended() -> None:
    sent: list[dict[str, Any]] = []

    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        if message["type"] == "media.camera_layers":
            sent.append(message)

    node = MediaNode(send)
    room = Room("r")
    teacher = Peer("teacher", permissions=Permissions(audio=True, video=True, screen=True, always_forward=True))
    tracks = {layer: live_track("teacher", "camera", layer) for layer in ("normal", "low")}
    teacher.publisher = SimpleNamespace(
        tracks=tracks, measure=lambda now: None, bitrates=rates(tracks, lambda track: 0.0)
    )
    room.peers["teacher"] = teacher
    await node._update_locked(room)
    await node._update_locked(room)
    # nobody is there, but within SUSPEND_AFTER_S of the first tick both layers are still asked for
    assert [(m["normal"], m["low"]) for m in sent] == [(True, True)]


async def test_viewers_alike_but_for_their_thumbnails_get_each_their_own_camera_layers() -> None:
    """media.tiles: the node's shared placements keep one viewer's thumbnails off another's slots."""

    async def send(room: str, peer: str, message: dict[str, Any]) -> None:
        pass

    node = MediaNode(send)
    room = node._rooms["r"] = Room("r")
    everything = Permissions(audio=True, video=True, screen=True)
    for name in ("ana", "ben"):
        peer = Peer(name, permissions=everything)
        tracks = {f"cam-{layer}": live_track(name, "camera", layer) for layer in ("normal", "low")}
        tracks["mic"] = live_track(name, "microphone")
        tracks["mic"].level = 10  # speaking
        peer.publisher = SimpleNamespace(tracks=tracks, measure=lambda now: None, bitrates=rates(tracks, lambda t: 0.0))
        room.peers[name] = peer
    for name in ("chloe", "dan"):
        room.peers[name] = Peer(name, permissions=everything)
        room.peers[name].subscriber = subscriber()
    room.peers["dan"].small = frozenset({"ben"})

    def layers(name: str) -> dict[str, str]:
        subscriber = room.peers[name].subscriber
        assert subscriber is not None
        out = {}
        for slot in subscriber.video_slots:
            track = slot.pending or slot.track
            if slot.key is not None and track is not None:
                out[slot.key[0]] = track.layer
        return out

    await node._update_locked(room)
    assert layers("chloe") == {"ana": "normal", "ben": "normal"}
    assert layers("dan") == {"ana": "normal", "ben": "low"}
    assert given(room.peers["dan"])[0] == given(room.peers["chloe"])[0] == {"ana", "ben"}  # sound as before

    # a new list is kept at once and applied by the next tick, not by a tick of its own
    await node.handle("r", "dan", {"type": "media.tiles", "small": ["ana"]})
    assert room.peers["dan"].small == {"ana"}
    assert layers("dan") == {"ana": "normal", "ben": "low"}
    await node._update_locked(room)
    assert layers("dan") == {"ana": "low", "ben": "normal"}
    assert layers("chloe") == {"ana": "normal", "ben": "normal"}
