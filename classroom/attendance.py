"""Who came to a room, when and for how long: the attendance page's and CSV's one summary.

Every student of the room's class(es) has a line, absent ones included; anyone else who came
(teachers, supervisors, outsiders let in) has one too. Times are stays (`Attendance` rows): a
stay still open counts up to the room's end, or up to now while the room is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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

    @property
    def present(self) -> bool:
        return self.first_arrival is not None


@dataclass(frozen=True)
class Summary:
    room: Room
    lines: list[Line]
    duration_minutes: int

    @property
    def present_count(self) -> int:
        return sum(1 for line in self.lines if line.expected and line.present)

    @property
    def absent_count(self) -> int:
        return sum(1 for line in self.lines if line.expected and not line.present)


def expected_students(room: Room) -> QuerySet[User]:
    """The active students of the lesson's class, or of the recess's classes."""
    if room.kind == Room.Kind.LESSON:
        classes: QuerySet[SchoolClass] = SchoolClass.objects.filter(pk=room.school_class_id)
    else:
        classes = room.classes.all()
    return User.objects.filter(classes__in=classes, role=Role.STUDENT, is_active=True).distinct()


def _minutes(seconds: float) -> int:
    return int(seconds // 60 + (1 if seconds % 60 >= 30 else 0))


def summarize(room: Room, now: datetime | None = None) -> Summary:
    """The room's attendance: expected students first (by name), then the other people who came."""
    end = room.ended_at or now or timezone.now()
    stays: dict[int, list[tuple[datetime, datetime | None]]] = {}
    people: dict[int, User] = {}
    for row in Attendance.objects.filter(room=room).select_related("user"):
        stays.setdefault(row.user_id, []).append((row.joined_at, row.left_at))
        people[row.user_id] = row.user
    students = list(expected_students(room))
    expected = {student.pk for student in students}
    others = sorted((user for pk, user in people.items() if pk not in expected), key=lambda u: (u.last_name, u.name))

    def line(user: User) -> Line:
        mine = stays.get(user.pk, [])
        if not mine:
            return Line(user, user.pk in expected, None, None, 0)
        open_now = any(left is None for _, left in mine) and room.ended_at is None
        departures = [left or end for _, left in mine]
        # Stays of one user do not overlap (one stay spans all their sockets): a plain sum.
        seconds = sum(
            max((left - joined).total_seconds(), 0.0) for (joined, _), left in zip(mine, departures, strict=True)
        )
        return Line(
            user,
            user.pk in expected,
            min(joined for joined, _ in mine),
            None if open_now else max(departures),
            _minutes(seconds),
        )

    lines = [line(user) for user in students] + [line(user) for user in others]
    return Summary(room, lines, _minutes(max((end - room.created_at).total_seconds(), 0.0)))


def past_lessons(school_class: SchoolClass, limit: int = 20) -> list[Summary]:
    """The class's ended lessons, newest first, each with its attendance."""
    lessons = school_class.lessons.filter(ended_at__isnull=False).order_by("-created_at")[:limit]
    return [summarize(lesson) for lesson in lessons]
