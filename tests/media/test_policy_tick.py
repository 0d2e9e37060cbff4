"""The policy tick as pure functions: a room's state and a clock in, a choice out; no connection."""

from __future__ import annotations

import random

from media_server.policy import (
    Choice,
    PeerState,
    RoomState,
    ViewerChoice,
    Viewing,
    assign_slots,
    choose,
    place,
    tile_layer,
)
from media_server.policy.tick import (
    SUSPEND_AFTER_S,
    camera_layers,
    effective_quality,
    video_keys,
    video_layer,
    watched_layers,
)
from media_server.protocol import Layer

SPEAKING, SILENT = 10, 127
EMPTY: Viewing[str] = Viewing((None, None, None), (None, None, None, None))


def publisher(
    name: str, level: int | None = None, *layers: str, viewing: Viewing[str] | None = EMPTY
) -> PeerState[str]:
    """A peer whose tracks are named "<peer>/<source>/<layer>": a microphone at a level, camera layers."""
    tracks = {("camera", layer): f"{name}/camera/{layer}" for layer in layers}
    if level is not None:
        tracks["microphone", "normal"] = f"{name}/microphone/normal"
    return PeerState(name, tracks, level=level, viewing=viewing)


def room(*peers: PeerState[str], bitrates: dict[str, float] | None = None) -> RoomState[str]:
    return RoomState({peer.id: peer for peer in peers}, (), bitrates or {})


def test_it_never_gives_a_viewer_its_own_sources() -> None:
    state = room(publisher("ana", SPEAKING, "normal"), publisher("ben", SPEAKING, "normal"))
    choice = choose(state, 100.0, loudest=3, last_n=6)
    assert [key for key in choice.viewers["ana"].audio if key] == [("ben", "microphone")]
    assert [key for key in choice.viewers["ana"].video if key] == [("ben", "camera")]
    assert [key for key in choice.viewers["ben"].video if key] == [("ana", "camera")]


def test_a_speaker_is_remembered_at_the_clock_given_and_a_silent_peer_is_not() -> None:
    state = room(publisher("ana", SPEAKING), publisher("ben", SILENT))
    choice = choose(state, 42.5, loudest=3, last_n=6)
    assert choice.last_spoke == {"ana": 42.5, "ben": 0.0}
    assert choice.loudest == ("ana",)
    assert choice.live["ben"] == {"audio": True, "video": False, "screen": False}


def test_the_last_n_cameras_follow_who_spoke_last() -> None:
    peers = [publisher(name, SILENT, "normal") for name in ("ana", "ben", "chloe")]
    peers[2] = PeerState("chloe", peers[2].tracks, level=SILENT, last_spoke=5.0, viewing=EMPTY)
    viewer = publisher("dan")
    choice = choose(room(*peers, viewer), 10.0, loudest=3, last_n=1)
    assert [key for key in choice.viewers["dan"].video if key] == [("chloe", "camera")]


def test_the_need_counts_each_camera_layer_and_the_sound_alone() -> None:
    state = room(
        publisher("teacher", SPEAKING, "normal", "low"),
        publisher("student"),
        bitrates={"teacher/microphone/normal": 40.0, "teacher/camera/normal": 1000.0, "teacher/camera/low": 100.0},
    )
    viewer = choose(state, 0.0, loudest=3, last_n=6).viewers["student"]
    assert (viewer.need_normal, viewer.need_low, viewer.need_audio) == (1040.0, 140.0, 40.0)


def test_what_a_viewer_is_sent_now_is_what_its_slots_forward() -> None:
    forwarding = Viewing(EMPTY.audio, EMPTY.video, ("teacher/microphone/normal", None, "gone"))
    state = room(
        publisher("teacher", SPEAKING),
        publisher("student", viewing=forwarding),
        bitrates={"teacher/microphone/normal": 40.0},
    )
    assert choose(state, 0.0, loudest=3, last_n=6).viewers["student"].sent_bps == 40.0


def test_an_audio_only_viewer_gets_no_video_and_one_without_a_ready_connection_nothing() -> None:
    audio_only = PeerState("dan", {}, quality="audio", viewing=EMPTY)
    state = room(publisher("ana", SPEAKING, "normal"), audio_only, publisher("eve", viewing=None))
    choice = choose(state, 0.0, loudest=3, last_n=6)
    assert set(choice.viewers["dan"].video) == {None}
    assert "eve" not in choice.viewers


def test_slots_keep_their_sources_from_tick_to_tick() -> None:
    kept: Viewing[str] = Viewing((None, ("ben", "microphone"), None), (None, None, None, None))
    state = room(publisher("ana", SPEAKING), publisher("ben", SPEAKING), publisher("dan", viewing=kept))
    assert choose(state, 0.0, loudest=3, last_n=6).viewers["dan"].audio == (
        ("ana", "microphone"),
        ("ben", "microphone"),
        None,
    )


def test_the_tick_changes_nothing_it_is_given_and_gives_the_same_answer_twice() -> None:
    state = room(publisher("ana", SPEAKING, "normal", "low"), publisher("ben", SILENT, "low"), publisher("dan"))
    before = repr(state)
    assert choose(state, 3.0, loudest=3, last_n=6) == choose(state, 3.0, loudest=3, last_n=6)
    assert repr(state) == before


def test_place_takes_the_other_camera_layer_when_the_wanted_one_is_not_published() -> None:
    state = room(publisher("ana", None, "normal"), publisher("ben", None, "normal", "low"))
    keys = [("ana", "camera"), ("ben", "camera"), ("gone", "camera"), None]
    assert place(state, keys, "low") == [
        (("ana", "camera"), "ana/camera/normal"),
        (("ben", "camera"), "ben/camera/low"),
        None,
        None,
    ]


def test_a_viewer_whose_cameras_are_off_gets_no_video_and_watches_nothing() -> None:
    state = room(publisher("ana", None, "normal", "low"), publisher("dan"))
    viewer = choose(state, 0.0, loudest=3, last_n=6).viewers["dan"]
    assert set(video_keys(viewer, "off")) == {None}
    assert video_layer("off") == "low"
    assert watched_layers(state, [(viewer, "off")]) == {}
    assert watched_layers(state, [(viewer, "low")]) == {"ana": {"low"}}


def test_a_camera_nobody_watches_stops_its_normal_layer_after_a_while() -> None:
    both = {"normal", "low"}
    since, send = camera_layers(both, {"low"}, None, 100.0) or (None, {})
    assert (since, send) == (100.0, {"normal": True, "low": True})
    assert camera_layers(both, {"low"}, 100.0, 100.0 + SUSPEND_AFTER_S) == (100.0, {"normal": False, "low": True})
    assert camera_layers(both, {"normal"}, 100.0, 200.0) == (None, {"normal": True, "low": True})
    assert camera_layers({"normal"}, set(), None, 0.0) is None


def test_a_camera_shown_small_goes_on_its_low_layer_costs_it_and_is_watched_on_it() -> None:
    """media.tiles: the viewer's thumbnails on their low layer, its large tiles and screens as chosen."""
    small = frozenset({"ben"})
    state = room(
        publisher("ana", None, "normal", "low"),
        publisher("ben", None, "normal", "low"),
        PeerState("dan", {}, viewing=EMPTY, small=small),
        publisher("eve"),
        bitrates={
            f"{p}/camera/{layer}": rate for p in ("ana", "ben") for layer, rate in (("normal", 600.0), ("low", 120.0))
        },
    )
    dan, eve = (choose(state, 0.0, loudest=3, last_n=6).viewers[name] for name in ("dan", "eve"))
    assert dan.small == small and eve.small == frozenset()
    assert (dan.need_normal, dan.need_low) == (720.0, 240.0)  # ana normal, ben low; both low
    assert (eve.need_normal, eve.need_low) == (1200.0, 240.0)
    keys = [("ana", "camera"), ("ben", "camera"), ("ben", "screen"), None]
    ben_screen = state.peers["ben"].tracks
    assert ("screen", "normal") not in ben_screen  # (ben publishes no screen: its slot is empty)
    assert place(state, keys, "normal", small) == [
        (("ana", "camera"), "ana/camera/normal"),
        (("ben", "camera"), "ben/camera/low"),
        None,
        None,
    ]
    assert place(state, keys, "low", small)[0] == (("ana", "camera"), "ana/camera/low")
    assert tile_layer(("ben", "screen"), "normal", small) == "normal"  # screens are never lowered
    # every viewer shows ben small: only ben's low layer is watched, so its normal one stops after a while
    assert watched_layers(state, [(dan, "normal")]) == {"ana": {"normal"}, "ben": {"low"}}
    assert watched_layers(state, [(dan, "normal"), (eve, "normal")]) == {"ana": {"normal"}, "ben": {"normal", "low"}}


def test_what_a_viewer_gets_is_told_against_what_it_chose() -> None:
    assert effective_quality("normal", "low") == "low"
    assert effective_quality("normal", "off") == "audio"
    assert effective_quality("low", "low") == "low"
    assert effective_quality("normal", "normal") == "normal"


def test_viewers_sharing_a_case_get_what_each_would_get_alone() -> None:
    """choose() computes one choice per distinct case; each viewer's must be its own, worked out alone.

    The rooms' slot layouts come from a small pool, so that many viewers share one (as in a room
    where most slots hold the same speakers): a case shared where it must not be gives some
    viewer another's choice.
    """
    rnd = random.Random(19)
    shared = 0
    for _ in range(600):
        state = random_room(rnd)
        loudest, last_n = rnd.randint(0, 4), rnd.randint(-3, 7)
        choice = choose(state, 100.0, loudest=loudest, last_n=last_n)
        assert choice.viewers, "every room has viewers"
        for viewer_id, got in choice.viewers.items():
            assert got == alone(state, choice, viewer_id, loudest=loudest, last_n=last_n), (viewer_id, last_n)
        layouts = [
            (peer.quality == "audio", peer.viewing.audio, peer.viewing.video, peer.small)
            for peer in state.peers.values()
            if peer.viewing
        ]
        shared += len(layouts) - len(set(layouts))
    assert shared > 1000, "the rooms give viewers the same slots, or nothing is shared"


def random_room(rnd: random.Random) -> RoomState[str]:
    """A room of 2-14 peers: random tracks, levels, past speakers (ties too), flags, and slots in use.

    Each peer's slots are one of three layouts of the room (two random ones and all empty).
    """
    names = [f"p{i}" for i in range(rnd.randint(2, 14))]
    keys = [(name, source) for name in names for source in ("microphone", "camera", "screen")]

    def slots(count: int) -> tuple[tuple[str, str] | None, ...]:
        used = rnd.sample(keys, min(count, len(keys)))
        return tuple(key if rnd.random() < 0.5 else None for key in used) + (None,) * (count - len(used))

    layouts = [Viewing(slots(3), slots(9)), Viewing(slots(3), slots(9)), Viewing((None,) * 3, (None,) * 9)]
    peers: dict[str, PeerState[str]] = {}
    bitrates: dict[str, float] = {}
    for name in names:
        tracks: dict[tuple[str, str], str] = {}
        for source, layer in (("microphone", "normal"), ("camera", "normal"), ("camera", "low"), ("screen", "normal")):
            if rnd.random() < 0.6:
                tracks[source, layer] = track = f"{name}/{source}/{layer}"
                bitrates[track] = float(rnd.choice([0, 40_000, 150_000, 600_000]))
        level = rnd.choice([SPEAKING, 45, 60, SILENT]) if ("microphone", "normal") in tracks else None
        layout = rnd.choice(layouts)
        small = frozenset(rnd.sample(names, rnd.randint(0, 2))) if rnd.random() < 0.3 else frozenset()
        forwarding = tuple(rnd.choice([None, *bitrates]) for _ in range(3))
        viewing = Viewing(layout.audio, layout.video, forwarding) if rnd.random() < 0.9 or name == "p0" else None
        peers[name] = PeerState(
            name, tracks, level, rnd.choice([0.0, 0.0, 50.0, 90.0, 90.0, 99.9]), rnd.random() < 0.1,
            rnd.choice(["normal", "normal", "low", "audio"]), viewing, small,
        )  # fmt: skip
    return RoomState(peers, tuple(rnd.sample(names, rnd.randint(0, 2))), bitrates)


def alone(state: RoomState[str], choice: Choice, viewer_id: str, *, loudest: int, last_n: int) -> ViewerChoice:
    """One viewer's choice from the rules written out (docs/media.md, "Scale policies"), sharing nothing.

    Audio: the loud speakers but the viewer, at most `loudest`. Video: every screen but the
    viewer's, the always-forwarded cameras but the viewer's, then the other cameras, most recent
    speaker first (never spoke: in the room's order), at most last_n. Slots keep what they hold.
    """
    viewer = state.peers[viewer_id]
    assert viewer.viewing is not None
    speakers = [(peer, "microphone") for peer in choice.loudest if peer != viewer_id][:loudest]
    videos: list[tuple[str, str]] = []
    if viewer.quality != "audio":
        order = list(state.peers)
        cameras = [peer for peer in order if choice.live[peer]["video"] and peer != viewer_id]
        always = [peer for peer in cameras if state.peers[peer].always_forward]
        others = sorted(
            (peer for peer in cameras if not state.peers[peer].always_forward),
            key=lambda peer: (-choice.last_spoke[peer], order.index(peer)),
        )
        videos = [(peer, "screen") for peer in order if choice.live[peer]["screen"] and peer != viewer_id]
        videos += [(peer, "camera") for peer in always] + [(peer, "camera") for peer in others[:last_n]]
    audio = tuple(assign_slots(list(viewer.viewing.audio), speakers))
    video = tuple(assign_slots(list(viewer.viewing.video), videos))

    # the live cameras the viewer's page shows small (media.tiles): each costs its low layer
    small = frozenset(p for p in viewer.small if choice.live[p]["video"]) if viewer.quality != "audio" else frozenset()

    def cost(keys: tuple[tuple[str, str] | None, ...], layer: Layer) -> float:
        return sum(
            state.rate(state.find(key, "low" if key[1] == "camera" and key[0] in small else layer))
            for key in keys
            if key is not None
        )

    sound = cost(audio, "normal")
    sent = sum(state.rate(track) for track in viewer.viewing.forwarding)
    return ViewerChoice(audio, video, sound + cost(video, "normal"), sound + cost(video, "low"), sound, sent, small)
