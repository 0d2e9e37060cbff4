"""The class page's past lessons, with attendance counts and links, for the lessons' moderators."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from classroom.actions.lessons import do_start_lesson
from classroom.models import Attendance, SchoolClass
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def past_lesson(teacher, student):
    room = do_start_lesson(SchoolClass.objects.get(name="6A"), teacher, title="Les volcans")
    start = timezone.now() - timedelta(hours=2)
    room.created_at, room.ended_at = start, start + timedelta(minutes=55)
    room.save()
    Attendance.objects.create(room=room, user=student, joined_at=start, left_at=start + timedelta(minutes=50))
    return room


def test_teacher_sees_past_lessons_with_counts_and_links(teacher, past_lesson):
    html = login(teacher).get("/classes/6a/").content.decode()
    assert f'data-lesson="{past_lesson.pk}"' in html
    assert '<td data-count="present">1</td>' in html and '<td data-count="absent">1</td>' in html
    assert "55 min" in html and "Les volcans" in html
    assert f'href="/rooms/{past_lesson.pk}/attendance/"' in html
    assert f'href="/rooms/{past_lesson.pk}/attendance.csv"' in html


def test_a_live_lesson_is_not_a_past_one(teacher):
    live = do_start_lesson(SchoolClass.objects.get(name="6A"), teacher)
    assert f'data-lesson="{live.pk}"' not in login(teacher).get("/classes/6a/").content.decode()


@pytest.mark.parametrize("persona", ["student", "supervisor"])
def test_others_do_not_see_past_lessons(persona, past_lesson, request):
    html = login(request.getfixturevalue(persona)).get("/classes/6a/").content.decode()
    assert 'data-section="past-lessons"' not in html and "attendance" not in html
