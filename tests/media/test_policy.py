"""Who is forwarded: loudest audio, last-N video, stable slots."""

from __future__ import annotations

from media_server.policy import assign_slots, select_loudest, select_video


def test_loudest_three_are_chosen_lower_level_louder() -> None:
    levels = {"a": 40, "b": 20, "c": 90, "d": 30, "e": 127}
    assert select_loudest(levels, [], 3) == ["b", "d", "a"]


def test_silent_sources_are_never_chosen() -> None:
    assert select_loudest({"a": 127, "b": 127}, [], 3) == []


def test_a_current_speaker_keeps_its_place_against_a_slightly_louder_one() -> None:
    assert select_loudest({"a": 30, "b": 28}, ["a"], 1) == ["a"]
    assert select_loudest({"a": 30, "b": 20}, ["a"], 1) == ["b"]


def test_last_n_keeps_the_most_recent_speakers() -> None:
    cameras = ["a", "b", "c", "d"]
    spoke = {"a": 1.0, "b": 5.0, "c": 3.0}
    chosen = select_video("viewer", cameras, [], [], spoke, 2)
    assert chosen == [("b", "camera"), ("c", "camera")]


def test_peers_who_never_spoke_fill_in_join_order() -> None:
    chosen = select_video("viewer", ["a", "b", "c"], [], [], {"c": 1.0}, 2)
    assert chosen == [("c", "camera"), ("a", "camera")]


def test_always_forwarded_cameras_and_screens_come_on_top_of_last_n() -> None:
    chosen = select_video("viewer", ["teacher", "a", "b"], ["a"], ["teacher"], {"b": 1.0}, 1)
    assert chosen == [("a", "screen"), ("teacher", "camera"), ("b", "camera")]


def test_a_viewer_never_gets_its_own_video() -> None:
    chosen = select_video("a", ["a", "b"], ["a"], ["a"], {"a": 9.0}, 5)
    assert chosen == [("b", "camera")]


def test_a_recent_speaker_leaves_its_place_in_the_last_n_to_the_next_one() -> None:
    # b spoke last: the others' last 2 are b and c; b's own are c and a (not only c)
    spoke = {"a": 1.0, "b": 5.0, "c": 3.0}
    assert select_video("d", ["a", "b", "c", "d"], [], [], spoke, 2) == [("b", "camera"), ("c", "camera")]
    assert select_video("b", ["a", "b", "c", "d"], [], [], spoke, 2) == [("c", "camera"), ("a", "camera")]


def test_slots_keep_their_sources_and_fill_free_ones() -> None:
    assert assign_slots(["x", None, "y"], ["y", "z"]) == ["z", None, "y"]


def test_sources_beyond_the_slots_are_left_out() -> None:
    assert assign_slots([None, None], ["a", "b", "c"]) == ["a", "b"]
