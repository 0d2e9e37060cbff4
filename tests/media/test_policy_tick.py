"""The policy tick as pure functions: a room's state and a clock in, a choice out; no connection."""

from __future__ import annotations

from media_server.policy import PeerState, RoomState, Viewing, choose, place
from media_server.policy.tick import (
    SUSPEND_AFTER_S,
    camera_layers,
    effective_quality,
    video_keys,
    video_layer,
    watched_layers,
)

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


def test_what_a_viewer_gets_is_told_against_what_it_chose() -> None:
    assert effective_quality("normal", "low") == "low"
    assert effective_quality("normal", "off") == "audio"
    assert effective_quality("low", "low") == "low"
    assert effective_quality("normal", "normal") == "normal"
