"""Who may do what: the one permission table every view and action asks.

Pages only hide what these functions already refuse on the server.
"""

from __future__ import annotations

from accounts.models import Role, User

from .models import Room, SchoolClass


def can_view_class(user: User, school_class: SchoolClass) -> bool:
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        return True
    if user.role == Role.TEACHER:
        return school_class.teachers.filter(pk=user.pk).exists()
    return school_class.students.filter(pk=user.pk).exists()


def can_start_lesson(user: User, school_class: SchoolClass) -> bool:
    return user.role == Role.TEACHER and school_class.teachers.filter(pk=user.pk).exists() or (
        user.role == Role.ADMIN
    )


def can_create_recess(user: User) -> bool:
    return user.role in (Role.SUPERVISOR, Role.ADMIN)


def is_room_moderator(user: User, room: Room) -> bool:
    """Teachers of the class's team for a lesson, supervisors for a recess, admins everywhere."""
    if user.role == Role.ADMIN:
        return True
    if room.kind == Room.Kind.LESSON:
        return (
            user.role == Role.TEACHER
            and room.school_class is not None
            and room.school_class.teachers.filter(pk=user.pk).exists()
        )
    return user.role == Role.SUPERVISOR


def is_room_student(user: User, room: Room) -> bool:
    """A student of the lesson's class, or of one of the recess's classes."""
    if user.role != Role.STUDENT:
        return False
    if room.kind == Room.Kind.LESSON:
        return room.school_class is not None and room.school_class.students.filter(pk=user.pk).exists()
    return room.classes.filter(students=user).exists()


def may_knock(user: User, room: Room) -> bool:
    """Anyone logged in from the directory may ask to enter; a recess only takes its own students."""
    if room.kind == Room.Kind.RECESS:
        return is_room_moderator(user, room) or is_room_student(user, room)
    return user.is_active
