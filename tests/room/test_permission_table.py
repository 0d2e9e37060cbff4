"""The permission table: every client message has one row, and each row means what it says."""

from __future__ import annotations

import pytest

from classroom import permissions, protocol
from classroom.actions.dispatch import HANDLERS
from classroom.permissions import Actor, Who

pytestmark = pytest.mark.django_db


def test_every_client_message_has_a_row_in_the_table():
    assert set(protocol.CLIENT_MESSAGES) <= set(permissions.MESSAGE_PERMISSIONS)


def test_every_handled_message_has_a_model():
    assert set(HANDLERS) <= set(protocol.CLIENT_MESSAGES)


def _actor(user, room, *, moderator=False, presenter=False, admitted=True) -> Actor:
    return Actor(user=user, room=room, moderator=moderator, presenter=presenter, admitted=admitted)


@pytest.mark.parametrize(
    ("who", "student_may", "presenter_may", "moderator_may"),
    [
        (Who.ADMITTED, True, True, True),
        (Who.PARTICIPANT, True, True, False),
        (Who.PRESENTER, False, True, True),
        (Who.MODERATOR, False, False, True),
    ],
)
def test_standing_levels(lesson, student, teacher, who, student_may, presenter_may, moderator_may):
    assert permissions.has_standing(_actor(student, lesson), who) is student_may
    assert permissions.has_standing(_actor(student, lesson, presenter=True), who) is presenter_may
    assert permissions.has_standing(_actor(teacher, lesson, moderator=True), who) is moderator_may


def test_waiting_user_may_only_ping(lesson, other_class_student):
    waiting = _actor(other_class_student, lesson, admitted=False)
    allowed = [kind for kind in permissions.MESSAGE_PERMISSIONS if permissions.may_send(waiting, kind)]
    assert allowed == ["ping"]


def test_leave_open_is_for_the_teacher_of_a_lesson_only(lesson, teacher, supervisor):
    assert permissions.may_send(_actor(teacher, lesson, moderator=True), "room.leave_open")
    assert not permissions.may_send(_actor(supervisor, lesson, moderator=True), "room.leave_open")


def test_media_messages_need_admission(lesson, student):
    assert permissions.may_send(_actor(student, lesson), "media.offer")
    assert not permissions.may_send(_actor(student, lesson, admitted=False), "media.offer")
