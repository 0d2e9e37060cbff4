"""CPU of the media policy tick per room, the pure part: choose(), place() and watched_layers().

    .venv/bin/python bench/tick_cpu.py [--repeat 5]

No connection and no event loop: each room is a RoomState with strings for tracks, as the node
reads one from its peers every 200 ms (media_server/room.py), at the sizes a school meets. A
lecture: a teacher on camera (two layers) and microphone, 3 students on camera, the rest
watching. A discussion (a recess): everyone on camera and microphone, three speaking. A group of
5 (a class split into groups): everyone on camera, one speaking. Each viewer has 3 audio and 9
video slots (last N = 6), as the node gives them, already holding what the previous tick placed.
Prints, per room, the median over --repeat runs of the µs per tick, and how many distinct choices
its viewers got (a viewer whose own sources are not chosen shares the others' case, computed once).

The tick on a real node also reads the room (Room.state, Publisher.measure) and applies the
choice to the slots, on caches the forwarder's packets emptied since the room's last tick 200 ms
before: timed in place on this machine it cost 4 to 6 times these figures (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media_server.policy import PeerState, RoomState, Viewing, choose, place, watched_layers
from media_server.policy.tick import Camera, ViewerChoice

AUDIO_SLOTS, VIDEO_SLOTS, LAST_N, LOUDEST = 3, 9, 6, 3
SPEAKING, SILENT = 20, 127


def room(size: int, cameras: int, speakers: int, *, layers: tuple[str, ...] = ("normal", "low")) -> RoomState[str]:
    """A room of size peers, the first `cameras` on camera, the first `speakers` speaking, slots empty."""
    peers: dict[str, PeerState[str]] = {}
    bitrates: dict[str, float] = {}
    for i in range(size):
        name = f"peer-{i}"
        tracks = {("microphone", "normal"): f"{name}/microphone"}
        bitrates[f"{name}/microphone"] = 40_000.0
        if i < cameras:
            for layer in layers:
                tracks["camera", layer] = f"{name}/camera/{layer}"
                bitrates[f"{name}/camera/{layer}"] = 600_000.0 if layer == "normal" else 150_000.0
        viewing: Viewing[str] = Viewing((None,) * AUDIO_SLOTS, (None,) * VIDEO_SLOTS)
        level = SPEAKING if i < speakers else SILENT
        # the first speakers spoke most recently; ten others spoke earlier in the lesson
        last_spoke = 0.0 if i >= speakers + 10 else 100.0 - i
        peers[name] = PeerState(name, tracks, level, last_spoke, i == 0 and cameras < size, "normal", viewing)
    return RoomState(peers, (), bitrates)


def tick(state: RoomState[str], now: float) -> tuple[dict[str, ViewerChoice], dict[tuple[object, ...], list[object]]]:
    """One tick's pure part as the node runs it: the choice, each distinct placement, the watched layers."""
    choice = choose(state, now, loudest=LOUDEST, last_n=LAST_N)
    placed: dict[tuple[object, ...], list[object]] = {}
    cameras: list[tuple[ViewerChoice, Camera]] = []
    for viewer in choice.viewers.values():
        for keys in (viewer.audio, viewer.video):
            if keys not in placed:
                placed[keys] = list(place(state, keys, "normal"))
        cameras.append((viewer, "normal"))
    watched_layers(state, cameras)
    return dict(choice.viewers), placed


def settled(state: RoomState[str]) -> RoomState[str]:
    """The room after a few ticks: each viewer's slots hold what was placed, speakers known."""
    for i in range(3):
        viewers, placed = tick(state, 1000.0 + i)
        peers = dict(state.peers)
        for viewer_id, viewer in viewers.items():
            peer = peers[viewer_id]
            forwarding = tuple(found[1] if found else None for found in placed[viewer.audio] + placed[viewer.video])  # type: ignore[index]
            peers[viewer_id] = PeerState(
                peer.id, peer.tracks, peer.level, peer.last_spoke, peer.always_forward, peer.quality,
                Viewing(viewer.audio, viewer.video, forwarding),
            )  # fmt: skip
        state = RoomState(
            peers, tuple(choose(state, 1000.0 + i, loudest=LOUDEST, last_n=LAST_N).loudest), state.bitrates
        )
    return state


def measure(state: RoomState[str], ticks: int) -> tuple[float, int]:
    """Return µs per tick over `ticks` ticks of a settled room, and how many distinct choices its viewers got."""
    start = time.perf_counter()
    for i in range(ticks):
        viewers, _ = tick(state, 1010.0 + i * 0.2)
    elapsed = time.perf_counter() - start
    return elapsed / ticks * 1e6, len({(viewer.audio, viewer.video) for viewer in viewers.values()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rooms = {
        "lecture-30": (room(30, 4, 1), 300),
        "lecture-200": (room(200, 4, 1), 50),
        "discussion-40": (room(40, 40, 3), 100),
        "group-5": (room(5, 5, 1), 2000),
    }
    print(f"{'room':<15} {'µs per tick':>12} {'µs per viewer':>14} {'choices':>8}")
    for name, (state, ticks) in rooms.items():
        state = settled(state)
        runs = [measure(state, ticks) for _ in range(args.repeat)]
        us = statistics.median(run[0] for run in runs)
        print(f"{name:<15} {us:>12.1f} {us / len(state.peers):>14.2f} {runs[-1][1]:>8}")


if __name__ == "__main__":
    main()
