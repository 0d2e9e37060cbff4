"""The groups' overview is read in a number of queries that does not grow with the class (issue 17)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from classroom.actions.groups import overview
from classroom.models import Participant, Room

pytestmark = pytest.mark.django_db


def groups_with(lesson: Room, students: list[User], count: int) -> None:
    """`count` live groups of the lesson, the students present in them in turn."""
    groups = [
        Room.objects.create(
            kind=Room.Kind.GROUP, parent=lesson, school_class_id=lesson.school_class_id, title=f"G{n}",
            created_by=lesson.created_by,
        )
        for n in range(count)
    ]  # fmt: skip
    for index, student in enumerate(students):
        Participant.objects.create(
            room=groups[index % count], user=student, status=Participant.Status.ADMITTED, connections=1
        )


def queries(lesson: Room) -> int:
    with CaptureQueriesContext(connection) as captured:
        shown = overview(str(lesson.pk))
    assert shown is not None
    return len(captured.captured_queries)


def test_the_overview_costs_the_same_for_two_students_or_ten(lesson, teacher):
    students = [User.objects.create(username=f"eleve{n}", role=Role.STUDENT) for n in range(10)]
    groups_with(lesson, students[:2], 2)
    few = queries(lesson)
    Participant.objects.filter(room__parent=lesson).delete()
    Room.objects.filter(parent=lesson).update(ended_at=lesson.created_at)
    groups_with(lesson, students, 2)
    assert queries(lesson) == few
