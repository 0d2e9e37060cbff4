"""Who came to a room, when and for how long: the attendance page's and CSV's one summary.

Every student of the room's class(es) has a line, absent ones included; anyone else who came
(teachers, supervisors, outsiders let in) has one too. Times are stays (`Attendance` rows): a
stay still open counts up to the room's end, or up to now while the room is live. A lesson's
breakout groups are part of it: time in a group counts as present in the lesson, and each group
has its own minutes per person (`Line.groups`, in the order of `Summary.groups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Role, User

from .models import Attendance, Room, SchoolClass


@dataclass(frozen=True)
class Line:
    """One person's attendance in one room."""

    user: User
    expected: bool  # a student of the room's class(es)
    first_arrival: datetime | None
    last_departure: datetime | None  # None while still there, or when never there
    minutes: int
    groups: tuple[int, ...] = ()  # minutes in each of the lesson's groups

    @property
    def present(self) -> bool:
        return self.first_arrival is not None


@dataclass(frozen=True)
class Summary:
    room: Room
    lines: list[Line]
    duration_minutes: int
    groups: tuple[Room, ...] = ()  # a lesson's breakout groups, in the order they were opened

    @property
    def present_count(self) -> int:
        return sum(1 for line in self.lines if line.expected and line.present)

    @property
    def absent_count(self) -> int:
        return sum(1 for line in self.lines if line.expected and not line.present)


def expected_students(room: Room) -> QuerySet[User]:
    """The active students of the lesson's class, or of the recess's classes."""
    if room.kind == Room.Kind.LESSON:
        class_id = room.school_class_id
        classes = SchoolClass.objects.filter(pk=class_id) if class_id is not None else SchoolClass.objects.none()
    else:
        classes = room.classes.all()
    return User.objects.filter(classes__in=classes, role=Role.STUDENT, is_active=True).distinct()


def _minutes(seconds: float) -> int:
    return int(seconds // 60 + (1 if seconds % 60 >= 30 else 0))


Stay = tuple[datetime, datetime]


def _covered_seconds(stays: list[Stay]) -> float:
    """The time within any of the stays: a page moving into its group may overlap the two for a moment."""
    seconds = 0.0
    reach: datetime | None = None
    for joined, left in sorted(stays):
        if reach is not None and joined < reach:
            joined = reach
        if left > joined:
            seconds += (left - joined).total_seconds()
            reach = left
    return seconds


def summarize(room: Room, now: datetime | None = None) -> Summary:
    """The room's attendance: expected students first (by name), then the other people who came."""
    end = room.ended_at or now or timezone.now()
    groups: tuple[Room, ...] = ()
    if room.kind == Room.Kind.LESSON:
        groups = tuple(Room.objects.filter(parent=room, kind=Room.Kind.GROUP).order_by("created_at", "pk"))
    ends = {room.pk: end} | {group.pk: group.ended_at or end for group in groups}
    live = {room.pk} | {group.pk for group in groups if group.ended_at is None}
    # per user: (room, joined, left or None) for the room and its groups
    stays: dict[int, list[tuple[UUID, datetime, datetime | None]]] = {}
    people: dict[int, User] = {}
    for row in Attendance.objects.filter(room_id__in=ends.keys()).select_related("user"):
        stays.setdefault(row.user_id, []).append((row.room_id, row.joined_at, row.left_at))
        people[row.user_id] = row.user
    students = list(expected_students(room))
    expected = {student.pk for student in students}
    others = sorted((user for pk, user in people.items() if pk not in expected), key=lambda u: (u.last_name, u.name))

    def line(user: User) -> Line:
        mine = stays.get(user.pk, [])
        if not mine:
            return Line(user, user.pk in expected, None, None, 0, (0,) * len(groups))
        open_now = room.ended_at is None and any(left is None and where in live for where, _, left in mine)
        closed = [(where, joined, left or ends[where]) for where, joined, left in mine]
        per_group = tuple(
            _minutes(_covered_seconds([(joined, left) for where, joined, left in closed if where == group.pk]))
            for group in groups
        )
        return Line(
            user,
            user.pk in expected,
            min(joined for _, joined, _ in closed),
            None if open_now else max(left for _, _, left in closed),
            _minutes(_covered_seconds([(joined, left) for _, joined, left in closed])),
            per_group,
        )

    lines = [line(user) for user in students] + [line(user) for user in others]
    return Summary(room, lines, _minutes(max((end - room.created_at).total_seconds(), 0.0)), groups)


def group_headings(summary: Summary) -> list[str]:
    """One heading per group of the lesson: its name, with the time it opened where names repeat."""
    names = [group.title for group in summary.groups]
    return [
        group.title
        if names.count(group.title) == 1
        else f"{group.title} ({timezone.localtime(group.created_at).strftime('%H:%M')})"
        for group in summary.groups
    ]


def past_lessons(school_class: SchoolClass, limit: int = 20) -> list[Summary]:
    """The class's ended lessons, newest first, each with its attendance."""
    lessons = school_class.lessons.filter(kind=Room.Kind.LESSON, ended_at__isnull=False).order_by("-created_at")[:limit]
    return [summarize(lesson) for lesson in lessons]
