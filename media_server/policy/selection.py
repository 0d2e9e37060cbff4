"""Who is forwarded to whom: the loudest speakers' audio, the last-N speakers' video, slots kept."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from ..rtp import SILENCE

K = TypeVar("K", bound=Hashable)

SPEAKING_LEVEL = 50
"""A smoothed RFC 6464 level at or below this many -dBov counts as speech."""

HYSTERESIS_DB = 6
"""How much louder a newcomer must be to take the place of a current loud speaker."""

SPEAKING_HOLD_S = 1.0
"""A peer counts as speaking for this long after its level last reached SPEAKING_LEVEL (pauses between words)."""


def speaking_ids(last_spoke: Mapping[str, float], now: float, hold: float = SPEAKING_HOLD_S) -> tuple[str, ...]:
    """Return the peers speaking at monotonic time now, sorted: the one place levels become speakers.

    last_spoke holds when each peer's smoothed level was last at or under SPEAKING_LEVEL (0: never).
    """
    return tuple(sorted(peer for peer, spoke in last_spoke.items() if spoke > 0 and now - spoke < hold))


def select_loudest(
    levels: Mapping[str, int],
    current: Iterable[str],
    count: int,
    threshold: int = SILENCE - 1,
) -> list[str]:
    """Return up to count peers, loudest first, among those not silent (lower level is louder)."""
    sticky = set(current)
    audible = [
        (level - (HYSTERESIS_DB if peer in sticky else 0), peer) for peer, level in levels.items() if level <= threshold
    ]
    audible.sort()
    return [peer for _, peer in audible[:count]]


def select_video(
    viewer: str,
    cameras: Sequence[str],
    screens: Sequence[str],
    always: Iterable[str],
    last_spoke: Mapping[str, float],
    last_n: int,
) -> list[tuple[str, str]]:
    """Return the (peer, source) videos a viewer gets, most important first.

    Screens and always-forwarded cameras come first; then the last_n cameras whose owners spoke
    most recently; peers who never spoke fill the rest in the order given.
    """
    pinned, ranked = rank_cameras(cameras, always, last_spoke)
    return videos_for(viewer, screens, pinned, ranked, last_n)


def rank_cameras(
    cameras: Sequence[str], always: Iterable[str], last_spoke: Mapping[str, float]
) -> tuple[list[str], list[str]]:
    """Return the always-forwarded cameras and the others, most recent speaker first.

    Once per tick for the whole room; videos_for() then takes each viewer's share. Peers who
    never spoke keep the order given (the sort is stable).
    """
    always_set = set(always)
    pinned = [peer for peer in cameras if peer in always_set]
    ranked = [peer for peer in cameras if peer not in always_set]
    ranked.sort(key=lambda peer: -last_spoke.get(peer, 0.0))
    return pinned, ranked


def videos_for(
    viewer: str, screens: Sequence[str], pinned: Sequence[str], ranked: Sequence[str], last_n: int
) -> list[tuple[str, str]]:
    """Return one viewer's videos from rank_cameras(): never its own."""
    chosen: list[tuple[str, str]] = [(peer, "screen") for peer in screens if peer != viewer]
    chosen += [(peer, "camera") for peer in pinned if peer != viewer]
    chosen += [(peer, "camera") for peer in [peer for peer in ranked if peer != viewer][:last_n]]
    return chosen


def assign_slots(current: Sequence[K | None], desired: Sequence[K]) -> list[K | None]:
    """Place the desired keys on slots, keeping those already placed where they are.

    Keys beyond the number of slots are left out, the most important (first) ones kept.
    """
    wanted = list(desired[: len(current)])
    wanted_set = set(wanted)
    result: list[K | None] = [key if key in wanted_set else None for key in current]
    placed = {key for key in result if key is not None}
    free = (i for i, key in enumerate(result) if key is None)
    for key in wanted:
        if key not in placed:
            result[next(free)] = key
    return result
