"""The attendance export: for French spreadsheets, one row per student (absent ones included) and
per other participant; the raw stays at `?rows=1`; the room's moderators and admins only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from classroom.models import Attendance
from tests.conftest import login

pytestmark = pytest.mark.django_db

# 2024-03-05 09:00 in Paris (UTC+1 in winter).
START = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def ended_lesson(lesson, teacher, student, other_class_student):
    """Léa comes twice (10 min, then 30 min); Zoé never comes; the teacher stays 50 min; an outsider 5."""
    lesson.created_at = START
    lesson.ended_at = START + timedelta(minutes=55)
    lesson.save()
    Attendance.objects.create(room=lesson, user=teacher, joined_at=START, left_at=START + timedelta(minutes=50))
    Attendance.objects.create(
        room=lesson, user=student, joined_at=START + timedelta(minutes=2), left_at=START + timedelta(minutes=12)
    )
    Attendance.objects.create(
        room=lesson, user=student, joined_at=START + timedelta(minutes=20), left_at=START + timedelta(minutes=50)
    )
    Attendance.objects.create(
        room=lesson,
        user=other_class_student,
        joined_at=START + timedelta(minutes=30),
        left_at=START + timedelta(minutes=35),
    )
    return lesson


def _rows(text: str, delimiter: str = ";") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def test_csv_is_french_excel_dialect(ended_lesson, teacher):
    response = login(teacher).get(f"/rooms/{ended_lesson.pk}/attendance.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the accents
    text = response.content.decode("utf-8-sig")
    header = _rows(text)[0]
    assert header == ["Nom", "Rôle", "Statut", "Première arrivée", "Dernier départ", "Minutes de présence"]
    assert "Léa Martin" in text


def test_csv_lists_absent_students_and_other_participants(ended_lesson, teacher):
    text = login(teacher).get(f"/rooms/{ended_lesson.pk}/attendance.csv").content.decode("utf-8-sig")
    by_name = {row[0]: row for row in _rows(text)[1:]}
    assert set(by_name) == {"Léa Martin", "Zoé Bernard", "Marie Curie", "Jean-Édouard Petit"}
    assert by_name["Zoé Bernard"] == ["Zoé Bernard", "Élève", "absent", "", "", "0"]
    # First arrival and last departure in Paris time; minutes summed over both stays.
    assert by_name["Léa Martin"] == ["Léa Martin", "Élève", "présent", "2024-03-05 09:02", "2024-03-05 09:50", "40"]
    assert by_name["Jean-Édouard Petit"][2:] == ["présent", "2024-03-05 09:30", "2024-03-05 09:35", "5"]


def test_csv_lists_the_class_students_first(ended_lesson, teacher):
    text = login(teacher).get(f"/rooms/{ended_lesson.pk}/attendance.csv").content.decode("utf-8-sig")
    names = [row[0] for row in _rows(text)[1:]]
    assert names[:2] == ["Zoé Bernard", "Léa Martin"]  # by last name: Bernard, Martin


def test_csv_speaks_english_to_an_english_page(ended_lesson, teacher):
    client = login(teacher)
    text = client.get(f"/rooms/{ended_lesson.pk}/attendance.csv", HTTP_ACCEPT_LANGUAGE="en").content.decode("utf-8-sig")
    header, *rows = _rows(text)
    assert header == ["Name", "Role", "Status", "First arrival", "Last departure", "Minutes present"]
    assert ["Zoé Bernard", "Student", "absent", "", "", "0"] in rows


def test_raw_rows_stay_available(ended_lesson, teacher, student):
    response = login(teacher).get(f"/rooms/{ended_lesson.pk}/attendance.csv?rows=1")
    assert response.status_code == 200
    header, *rows = _rows(response.content.decode(), delimiter=",")
    assert header == ["user_id", "name", "role", "joined_at", "left_at"]
    lea = [row for row in rows if row[0] == str(student.pk)]
    assert len(lea) == 2
    assert datetime.fromisoformat(lea[0][3]) < datetime.fromisoformat(lea[0][4])


def test_a_stay_still_open_has_no_departure(lesson, teacher, student):
    Attendance.objects.create(room=lesson, user=student, joined_at=timezone.now() - timedelta(minutes=3))
    text = login(teacher).get(f"/rooms/{lesson.pk}/attendance.csv").content.decode("utf-8-sig")
    lea = next(row for row in _rows(text) if row[0] == "Léa Martin")
    assert lea[2] == "présent" and lea[3] and lea[4] == "" and lea[5] == "3"


def test_attendance_page_shows_who_came_and_who_did_not(ended_lesson, teacher):
    html = login(teacher).get(f"/rooms/{ended_lesson.pk}/attendance/").content.decode()
    assert 'data-user="zoe.bernard" data-status="absent"' in html
    assert 'data-user="lea.martin" data-status="present"' in html
    assert '<dd data-count="present">1</dd>' in html and '<dd data-count="absent">1</dd>' in html
    assert f'href="/rooms/{ended_lesson.pk}/attendance.csv"' in html


def test_admin_downloads_attendance(ended_lesson, admin):
    assert login(admin).get(f"/rooms/{ended_lesson.pk}/attendance.csv").status_code == 200


@pytest.mark.parametrize("persona", ["student", "other_teacher", "supervisor"])
@pytest.mark.parametrize("path", ["attendance.csv", "attendance.csv?rows=1", "attendance/"])
def test_others_get_403(ended_lesson, persona, path, request):
    user = request.getfixturevalue(persona)
    assert login(user).get(f"/rooms/{ended_lesson.pk}/{path}").status_code == 403
