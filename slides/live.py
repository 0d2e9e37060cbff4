"""Strokes being drawn, kept in this process's memory until the pen lifts (docs/protocol.md, "Annotations").

`annotation.add` with `final` false writes the stroke's row (its id, its first points) and, once
that commits, keeps the stroke here. Its `annotation.extend` batches then come to this process (they
come on the socket that started it), are relayed to the room from the event loop with no database
turn, and the row is written once, at `final`. Whatever ends a stroke early stores it as drawn and
tells everyone it is finished: the drawer losing the pen (their own `participant.updated` says
`draw` false) or their socket closing.

A stroke that is not here (another process started it, or it is finished) goes to the database
handler, which answers as before (`not_found`, `conflict`, `forbidden`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from classroom.ratelimit import PER_USER, TokenBucket

from .geometry import bounds


@dataclass
class LiveStroke:
    id: int
    room_id: str
    user_id: int
    key: str
    deck_id: int | None
    page: int
    tool: str
    points: list[list[float]]
    box: list[float] = field(default_factory=list)  # min_x, min_y, max_x, max_y

    def __post_init__(self) -> None:
        self.box = list(bounds(self.points))

    def append(self, points: list[list[float]]) -> None:
        if not points:
            return
        self.points.extend(points)
        min_x, min_y, max_x, max_y = bounds(points)
        box = self.box
        self.box = [min(box[0], min_x), min(box[1], min_y), max(box[2], max_x), max(box[3], max_y)]


# (room id, user id, key) -> the stroke; handlers add on the database thread, the loop does the rest
_strokes: dict[tuple[str, int, str], LiveStroke] = {}
_by_id: dict[int, LiveStroke] = {}
# The drawing messages a user's live strokes take in this process, as `ratelimit.PER_USER` counts them.
_buckets: dict[tuple[str, int], TokenBucket] = {}


def keep_on_commit(stroke: LiveStroke) -> None:
    """Keep a stroke being drawn here once its row is committed."""

    def keep() -> None:
        _strokes[(stroke.room_id, stroke.user_id, stroke.key)] = stroke
        _by_id[stroke.id] = stroke

    transaction.on_commit(keep)


def get(room_id: str, user_id: int, key: str) -> LiveStroke | None:
    return _strokes.get((room_id, user_id, key))


def take(stroke: LiveStroke) -> None:
    """Forget a stroke (it is being stored)."""
    _strokes.pop((stroke.room_id, stroke.user_id, stroke.key), None)
    _by_id.pop(stroke.id, None)


def of_user(room_id: str, user_id: int) -> list[LiveStroke]:
    return [stroke for (room, user, _key), stroke in list(_strokes.items()) if room == room_id and user == user_id]


def points_of(stroke_id: int) -> list[list[float]] | None:
    """The points so far of a stroke drawn through this process (a late joiner's replay)."""
    stroke = _by_id.get(stroke_id)
    return None if stroke is None else list(stroke.points)


def allows(room_id: str, user_id: int) -> bool:
    """Count one drawing message of a user's live strokes; False once over `PER_USER['annotation']`."""
    count, seconds = PER_USER["annotation"]
    bucket = _buckets.get((room_id, user_id))
    if bucket is None or bucket.burst != count:
        bucket = _buckets[(room_id, user_id)] = TokenBucket(float(count), count / seconds)
    return bucket.take()


def forget_user(room_id: str, user_id: int) -> None:
    _buckets.pop((room_id, user_id), None)


def drawing(room_id: str, user_id: int) -> bool:
    return any(room == room_id and user == user_id for room, user, _key in list(_strokes))
