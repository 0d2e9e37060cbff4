"""The attendance export: one row per stay, for the room's moderators and admins only."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from classroom.models import Attendance
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def stays(lesson, student, student2):
    start = timezone.now() - timedelta(hours=1)
    Attendance.objects.create(room=lesson, user=student, joined_at=start, left_at=start + timedelta(minutes=10))
    Attendance.objects.create(room=lesson, user=student, joined_at=start + timedelta(minutes=20))
    Attendance.objects.create(room=lesson, user=student2, joined_at=start + timedelta(minutes=5), left_at=start + timedelta(minutes=50))


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_teacher_downloads_one_row_per_stay(lesson, teacher, student, student2, stays):
    response = login(teacher).get(f"/rooms/{lesson.pk}/attendance.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    header, *rows = _rows(response)
    assert header == ["user_id", "name", "role", "joined_at", "left_at"]
    assert [(row[0], row[1], row[2]) for row in rows] == [
        (str(student.pk), "Léa Martin", "student"),
        (str(student2.pk), "Zoé Bernard", "student"),
        (str(student.pk), "Léa Martin", "student"),
    ]
    assert rows[2][4] == ""
    assert datetime.fromisoformat(rows[0][3]) < datetime.fromisoformat(rows[0][4])


def test_admin_downloads_attendance(lesson, admin, stays):
    assert login(admin).get(f"/rooms/{lesson.pk}/attendance.csv").status_code == 200


@pytest.mark.parametrize("persona", ["student", "other_teacher", "supervisor"])
def test_others_get_403(lesson, stays, persona, request):
    user = request.getfixturevalue(persona)
    assert login(user).get(f"/rooms/{lesson.pk}/attendance.csv").status_code == 403
