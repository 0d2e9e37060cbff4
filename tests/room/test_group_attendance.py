"""A lesson's attendance with breakout groups (issue 17): the time each person spent in each group."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from classroom.attendance import past_lessons
from classroom.models import Attendance, Room
from tests.conftest import login

pytestmark = pytest.mark.django_db

# 2024-03-05 09:00 in Paris (UTC+1 in winter).
START = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def stay(room: Room, user, joined: float, left: float | None) -> None:  # type: ignore[no-untyped-def]
    Attendance.objects.create(room=room, user=user, joined_at=at(joined), left_at=None if left is None else at(left))


def group(lesson: Room, name: str, opened: float, closed: float | None) -> Room:
    room = Room.objects.create(
        kind=Room.Kind.GROUP,
        parent=lesson,
        school_class_id=lesson.school_class_id,
        title=name,
        created_by=lesson.created_by,
        ended_at=None if closed is None else at(closed),
    )
    Room.objects.filter(pk=room.pk).update(created_at=at(opened))
    room.refresh_from_db()
    return room


@pytest.fixture
def lesson_with_groups(lesson, teacher, student, student2):
    """Léa: lesson 2-12, Rouge 12-30 (her page opened it a moment before leaving the lesson), lesson 30-50.
    Zoé: Bleu 12-30 only (she came straight to her group). The teacher: lesson 0-55, Bleu 20-25."""
    lesson.created_at = START
    lesson.ended_at = at(55)
    lesson.save()
    red = group(lesson, "Rouge", 11, 30)
    blue = group(lesson, "Bleu", 11.5, 30)
    stay(lesson, student, 2, 12)
    stay(red, student, 11.9, 30)
    stay(lesson, student, 30, 50)
    stay(blue, student2, 12, 30)
    stay(lesson, teacher, 0, 55)
    stay(blue, teacher, 20, 25)
    return lesson


def rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def test_the_csv_has_a_column_of_minutes_per_group(lesson_with_groups, teacher):
    header, *lines = rows(login(teacher).get(f"/rooms/{lesson_with_groups.pk}/attendance.csv"))
    assert header[5:] == ["Minutes de présence", "Minutes dans Rouge", "Minutes dans Bleu"]
    by_name = {line[0]: line for line in lines}
    assert by_name["Léa Martin"][5:] == ["48", "18", "0"]
    assert by_name["Zoé Bernard"][2] == "présent"
    assert by_name["Zoé Bernard"][3:] == ["2024-03-05 09:12", "2024-03-05 09:30", "18", "0", "18"]
    assert by_name["Marie Curie"][5:] == ["55", "0", "5"]


def test_the_page_shows_the_minutes_in_each_group(lesson_with_groups, teacher, student2):
    page = login(teacher).get(f"/rooms/{lesson_with_groups.pk}/attendance/", headers={"Accept-Language": "en"})
    html = page.content.decode()
    assert html.count("data-group-column") == 2
    assert "Minutes in Rouge" in html and "Minutes in Bleu" in html
    assert page.context["summary"].present_count == 2
    zoe = next(line for line in page.context["summary"].lines if line.user == student2)
    assert (zoe.minutes, zoe.groups) == (18, (0, 18))


def test_groups_opened_twice_under_the_same_name_are_told_apart(lesson, teacher, student):
    lesson.created_at = START
    lesson.ended_at = at(55)
    lesson.save()
    first = group(lesson, "Groupe 1", 5, 15)
    second = group(lesson, "Groupe 1", 30, 40)
    stay(first, student, 5, 15)
    stay(second, student, 30, 35)
    header, *lines = rows(login(teacher).get(f"/rooms/{lesson.pk}/attendance.csv"))
    assert header[6:] == ["Minutes dans Groupe 1 (09:05)", "Minutes dans Groupe 1 (09:30)"]
    lea = next(line for line in lines if line[0] == "Léa Martin")
    assert lea[5:] == ["15", "10", "5"]


def test_a_lesson_without_groups_keeps_its_columns(lesson, teacher):
    header, *_lines = rows(login(teacher).get(f"/rooms/{lesson.pk}/attendance.csv"))
    assert len(header) == 6


def test_the_class_lists_the_lesson_not_its_groups_among_past_lessons(lesson_with_groups):
    assert [summary.room for summary in past_lessons(lesson_with_groups.school_class)] == [lesson_with_groups]
