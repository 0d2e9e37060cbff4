"""The database work of a join stays the same however many people and polls the room holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from classroom.actions import presence
from classroom.models import Poll, PollVote, Room

pytestmark = pytest.mark.django_db


def _students(room: Room, count: int, start: int) -> list[User]:
    users = [
        User.objects.create(username=f"eleve{i}", role=Role.STUDENT, display_name=f"Élève {i}")
        for i in range(start, start + count)
    ]
    room.school_class.students.add(*users)  # type: ignore[union-attr]
    return users


def _arrive(room: Room, users: list[User]) -> None:
    for user in users:
        assert presence.do_connect(str(room.pk), user).outcome == "admitted"


def _join_queries(room: Room, user: User, moderator: bool = False) -> int:
    """Queries to open a socket and build its `state`."""
    with CaptureQueriesContext(connection) as queries:
        assert presence.do_connect(str(room.pk), user).outcome == "admitted"
        presence.state_in(Room.objects.select_related("school_class").get(pk=room.pk), user, moderator)
    return len(queries.captured_queries)


def _polls(room: Room, teacher: User, voters: list[User], count: int) -> None:
    for i in range(count):
        poll = Poll.objects.create(room=room, created_by=teacher, question=f"Q{i}", options=["a", "b"])
        PollVote.objects.bulk_create(PollVote(poll=poll, user=user, choices=[i % 2]) for user in voters)


def test_join_queries_do_not_grow_with_the_people_present(lesson, teacher):
    _arrive(lesson, [teacher, *_students(lesson, 2, start=0)])
    few = _join_queries(lesson, _students(lesson, 1, start=100)[0])
    _arrive(lesson, _students(lesson, 30, start=2))
    many = _join_queries(lesson, _students(lesson, 1, start=101)[0])
    assert many == few


def test_moderator_join_queries_do_not_grow_with_the_polls(lesson, teacher, other_teacher):
    lesson.school_class.teachers.add(other_teacher)
    voters = _students(lesson, 3, start=0)
    _arrive(lesson, voters)
    _polls(lesson, teacher, voters, 1)
    one = _join_queries(lesson, teacher, moderator=True)
    _polls(lesson, teacher, voters, 5)
    six = _join_queries(lesson, other_teacher, moderator=True)
    assert six == one


def test_each_message_reads_the_sender_and_the_room_in_one_query(lesson, teacher):
    """load_actor runs before every message of every socket: one query for a participant."""
    from classroom.actions.common import load_actor

    student = _students(lesson, 1, start=200)[0]
    _arrive(lesson, [student])
    with CaptureQueriesContext(connection) as queries:
        actor = load_actor(str(lesson.pk), student, False)
    assert len(queries.captured_queries) == 1
    assert actor.admitted and actor.room.pk == lesson.pk and actor.room.school_class == lesson.school_class
    assert not actor.presenter
    # someone the room does not know yet: the room alone, not admitted
    stranger = _students(lesson, 1, start=201)[0]
    assert not load_actor(str(lesson.pk), stranger, False).admitted
