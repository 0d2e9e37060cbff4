"""The benchmark's scenarios: who publishes what and what each subscriber should receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .packets import CAMERA, LOW_CAMERA, MIC, SCREEN

SPEAKING = 30
"""RFC 6464 level (-dBov) of a speaking microphone; silent ones send 127."""
SPEAKERS = 3
LAST_N = 6
"""Our forwarder's default last-N cameras (MediaNode last_n)."""


@dataclass
class Scenario:
    """Publishers and subscribers, as the load-generator workers take them."""

    name: str
    kind: str
    size: int
    publishers: list[dict[str, Any]] = field(default_factory=list)
    subscribers: list[dict[str, Any]] = field(default_factory=list)
    # subscriber -> (candidate streams, how many of them it must receive)
    expect: dict[str, tuple[list[int], int]] = field(default_factory=dict)
    # the same for Janus where its subscriptions differ from what our policies choose
    janus_expect: dict[str, tuple[list[int], int]] = field(default_factory=dict)
    # target ("ours" or "janus") -> what each subscriber gets from it, in words, for the report
    subscription: dict[str, str] = field(default_factory=dict)

    @property
    def subscriber_count(self) -> int:
        """Return the number of receiving peers."""
        return len(self.subscribers)

    def expectations(self, target: str) -> dict[str, tuple[list[int], int]]:
        """Return what each subscriber must receive from this target ("ours" or "janus")."""
        return self.janus_expect if target == "janus" and self.janus_expect else self.expect

    def offered_pps(self, target: str = "ours") -> float:
        """Return the packets per second the target forwarder should send in all."""
        rate = {s["id"]: s["pps"] for p in self.publishers for s in p["streams"]}
        expect = self.expectations(target)
        return sum(sum(sorted(rate[i] for i in c)[-n:]) for c, n in expect.values())


def _stream(pub: int, index: int, source: str, profile: str, pps: float, level: int) -> dict[str, Any]:
    return {"id": pub * 4 + index, "source": source, "profile": profile, "pps": pps, "level": level}


def lecture(students: int) -> Scenario:
    """Return one teacher with camera, microphone and screen, and this many students."""
    streams = [
        _stream(0, 0, "microphone", "mic", MIC.packets_per_second(), SPEAKING),
        _stream(0, 1, "camera", "camera", CAMERA.packets_per_second(), 0),
        _stream(0, 2, "screen", "screen", SCREEN.packets_per_second(), 0),
    ]
    scenario = Scenario(f"lecture-{students}", "lecture", students)
    scenario.publishers.append({"name": "teacher", "feed": 1, "always": True, "streams": streams})
    ids = [s["id"] for s in streams]
    for i in range(students):
        name = f"student-{i}"
        janus = [{"feed": 1, "mid": str(m)} for m in range(len(streams))]
        scenario.subscribers.append({"name": name, "janus": janus})
        scenario.expect[name] = (ids, len(ids))
    return scenario


def discussion(participants: int, every_mic: bool = False) -> Scenario:
    """Return participants all publishing a low-rate camera and a microphone, a few speaking.

    Our forwarder sends each the loudest microphones (three, less their own) and six cameras
    (the speakers' first). Janus has no such policy. By default each of its subscribers
    subscribes to the same number of streams, chosen by the same rule: a per-packet comparison
    (kind "discussion"). With every_mic, each Janus subscriber subscribes to every other
    microphone and the same six cameras, what a Janus deployment must do so that whoever starts
    to speak is heard (kind "discussion-sweep": the largest discussion each forwarder holds).
    """
    kind = "discussion-sweep" if every_mic else "discussion"
    scenario = Scenario(f"{kind}-{participants}", kind, participants)
    scenario.subscription = {
        "ours": f"{SPEAKERS} loudest microphones less own + {LAST_N} cameras",
        "janus": f"every other microphone + {LAST_N} cameras" if every_mic else "the same streams as ours",
    }
    speakers = list(range(min(SPEAKERS, participants)))
    for p in range(participants):
        level = SPEAKING + p if p in speakers else 127
        streams = [
            _stream(p, 0, "microphone", "mic", MIC.packets_per_second(), level),
            _stream(p, 1, "camera", "low_camera", LOW_CAMERA.packets_per_second(), 0),
        ]
        scenario.publishers.append({"name": f"p-{p}", "feed": p + 1, "streams": streams})
    order = speakers + [p for p in range(participants) if p not in speakers]
    for v in range(participants):
        mics = [p for p in speakers if p != v]
        cameras = [p for p in order if p != v][:LAST_N]
        janus_mics = [p for p in range(participants) if p != v] if every_mic else mics
        janus = [{"feed": p + 1, "mid": "0"} for p in janus_mics] + [{"feed": p + 1, "mid": "1"} for p in cameras]
        name = f"p-{v}"
        scenario.subscribers.append({"name": name, "janus": janus})
        # our policy picks cameras among all others: any LAST_N of them will do
        candidates = [p * 4 for p in mics] + [p * 4 + 1 for p in range(participants) if p != v]
        scenario.expect[name] = (candidates, len(mics) + len(cameras))
        if every_mic:
            # Janus forwards exactly what was subscribed: all of it must arrive
            subscribed = [p * 4 for p in janus_mics] + [p * 4 + 1 for p in cameras]
            scenario.janus_expect[name] = (subscribed, len(subscribed))
    return scenario


def groups(participants: int, size: int = 5) -> Scenario:
    """Return participants split into groups of `size`, each group a room of its own.

    Everyone publishes a low-rate camera and a microphone; one member of each group speaks. Our
    forwarder sends each participant the speaking microphone of their group (less their own) and
    the cameras of their group; Janus's subscribers subscribe to the same streams (the per-packet
    comparison, as in "discussion").
    """
    scenario = Scenario(f"groups-{participants}x{size}", "groups", participants)
    scenario.subscription = {
        "ours": f"groups of {size}: the group's speaking microphone less own + the group's cameras",
        "janus": "the same streams as ours",
    }
    members = [list(range(start, min(start + size, participants))) for start in range(0, participants, size)]
    for g, group in enumerate(members):
        speaker = group[0]
        for p in group:
            level = SPEAKING if p == speaker else 127
            streams = [
                _stream(p, 0, "microphone", "mic", MIC.packets_per_second(), level),
                _stream(p, 1, "camera", "low_camera", LOW_CAMERA.packets_per_second(), 0),
            ]
            scenario.publishers.append({"name": f"p-{p}", "feed": p + 1, "room": f"group-{g}", "streams": streams})
        for v in group:
            mics = [speaker] if speaker != v else []
            cameras = [p for p in group if p != v][:LAST_N]
            janus = [{"feed": p + 1, "mid": "0"} for p in mics] + [{"feed": p + 1, "mid": "1"} for p in cameras]
            name = f"p-{v}"
            scenario.subscribers.append({"name": name, "room": f"group-{g}", "janus": janus})
            scenario.expect[name] = ([p * 4 for p in mics] + [p * 4 + 1 for p in cameras], len(mics) + len(cameras))
    return scenario
