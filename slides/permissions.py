"""Who may upload decks and see their pages, on top of classroom's permission table."""

from __future__ import annotations

from accounts.models import Role, User
from classroom.models import Participant, Room, SchoolClass
from classroom.permissions import can_start_lesson


def can_upload_deck(user: User, school_class: SchoolClass) -> bool:
    """The teachers of the class (who may also start its lessons) and admins."""
    return can_start_lesson(user, school_class)


def can_see_decks(user: User, school_class: SchoolClass) -> bool:
    """Whoever may be in the class's rooms: its students and teachers, admins, and anyone
    admitted into one of its live lessons and in it now (a guest a moderator let in): once the
    guest's last socket closes, their standing stays but the decks are out of reach again."""
    if not user.is_active:
        return False
    if user.role == Role.ADMIN:
        return True
    if school_class.teachers.filter(pk=user.pk).exists() or school_class.students.filter(pk=user.pk).exists():
        return True
    return Participant.objects.filter(
        user=user,
        status=Participant.Status.ADMITTED,
        connections__gt=0,
        room__kind=Room.Kind.LESSON,
        room__school_class=school_class,
        room__ended_at__isnull=True,
    ).exists()
