"""Who may do what: the one permission table every view and action asks (slides too).

Pages only hide what these functions already refuse on the server. Every rule that looks at a
user's role lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from django.db.models import Q, QuerySet

from accounts.models import Role, User

from .models import GroupMember, Participant, Room, SchoolClass

SUPERVISING_ROLES = (Role.SUPERVISOR, Role.ADMIN)
"""Roles that moderate every recess (`is_room_moderator`)."""


def visible_classes(user: User) -> QuerySet[SchoolClass]:
    """The active classes a user sees on the dashboard (`can_view_class` for all of them)."""
    classes = SchoolClass.objects.filter(active=True)
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        return classes
    if user.role == Role.TEACHER:
        return classes.filter(teachers=user)
    return classes.filter(students=user)


def live_rooms_for(user: User) -> QuerySet[Room]:
    """Live rooms this user may enter directly (their classes' lessons, their recesses).

    Never a breakout group, for anyone: its lesson is the way in (a student's page goes on to
    their group, the moderators' overview lists every group).
    """
    live = Room.objects.filter(ended_at__isnull=True)
    if user.role == Role.ADMIN:
        return live.exclude(kind=Room.Kind.GROUP)
    if user.role == Role.SUPERVISOR:
        return live.filter(kind=Room.Kind.RECESS)
    if user.role == Role.TEACHER:
        return live.filter(kind=Room.Kind.LESSON, school_class__teachers=user)
    return live.filter(
        Q(kind=Room.Kind.LESSON, school_class__students=user) | Q(kind=Room.Kind.RECESS, classes__students=user)
    ).distinct()


def can_view_class(user: User, school_class: SchoolClass) -> bool:
    if user.role in (Role.ADMIN, Role.SUPERVISOR):
        return True
    if user.role == Role.TEACHER:
        return school_class.teachers.filter(pk=user.pk).exists()
    return school_class.students.filter(pk=user.pk).exists()


def can_start_lesson(user: User, school_class: SchoolClass) -> bool:
    return user.role == Role.TEACHER and school_class.teachers.filter(pk=user.pk).exists() or (user.role == Role.ADMIN)


def can_create_recess(user: User) -> bool:
    return user.role in SUPERVISING_ROLES


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


def is_room_moderator(user: User, room: Room) -> bool:
    """Teachers of the class's team for a lesson and its groups, supervisors for a recess, admins everywhere."""
    if user.role == Role.ADMIN:
        return True
    if room.kind in (Room.Kind.LESSON, Room.Kind.GROUP):
        return (
            user.role == Role.TEACHER
            and room.school_class is not None
            and room.school_class.teachers.filter(pk=user.pk).exists()
        )
    return user.role == Role.SUPERVISOR


def team_ids(room: Room) -> set[int]:
    """Users who moderate this room by their role in its class (admins aside)."""
    if room.kind in (Room.Kind.LESSON, Room.Kind.GROUP) and room.school_class_id is not None:
        return set(room.school_class.teachers.values_list("pk", flat=True))  # type: ignore[union-attr]
    return set()


class RoleHolder(Protocol):
    """What role rules read of a user: a `User`, or the plain row `state` reads (serialize.PresentUser)."""

    @property
    def pk(self) -> int: ...

    @property
    def role(self) -> str: ...


def is_moderator_with(room: Room, user: RoleHolder, team: set[int]) -> bool:
    """`is_room_moderator` for many users at once, given the class team (`team_ids`)."""
    if user.role == Role.ADMIN:
        return True
    if room.kind in (Room.Kind.LESSON, Room.Kind.GROUP):
        return user.role == Role.TEACHER and user.pk in team
    return user.role == Role.SUPERVISOR


def is_supervising(user: User) -> bool:
    """Whether the user's role moderates every recess."""
    return user.role in SUPERVISING_ROLES


def is_room_student(user: User, room: Room) -> bool:
    """A student of the lesson's class, or of one of the recess's classes; for a group, its member."""
    if room.kind == Room.Kind.GROUP:
        return GroupMember.objects.filter(group=room, user=user).exists()
    if user.role != Role.STUDENT:
        return False
    if room.kind == Room.Kind.LESSON:
        return room.school_class is not None and room.school_class.students.filter(pk=user.pk).exists()
    return room.classes.filter(students=user).exists()


def may_knock(user: User, room: Room) -> bool:
    """Anyone logged in from the directory may ask to enter; a recess only takes its own students,
    a group only its own members among students (another group's student is refused, 4403)."""
    if room.kind == Room.Kind.RECESS:
        return is_room_moderator(user, room) or is_room_student(user, room)
    if room.kind == Room.Kind.GROUP and user.role == Role.STUDENT:
        return is_room_student(user, room)
    return user.is_active


# --- The room: who may send which client message ----------------------------------------


class Who(StrEnum):
    """The least standing a client message needs in a room (docs/protocol.md, "Client → server")."""

    ANYONE = "anyone"  # any socket of the room, waiting ones included
    ADMITTED = "admitted"  # anyone admitted, moderators included
    PARTICIPANT = "participant"  # admitted and not a moderator
    PRESENTER = "presenter"  # a moderator, or a participant made presenter
    MODERATOR = "moderator"
    LESSON_TEACHER = "lesson_teacher"  # a moderator of a lesson who is a teacher or an admin


@dataclass(frozen=True)
class Actor:
    """A user as a room sees them while they hold a socket in it."""

    user: User
    room: Room
    moderator: bool
    presenter: bool
    admitted: bool

    @property
    def is_student(self) -> bool:
        return self.user.role == Role.STUDENT


class Refused(Exception):
    """An action the permission table (or the room's state) does not allow; `code` is one of docs/protocol.md's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# The one table. Media messages (`media.*`) need ADMITTED; the forwarder decides the rest.
MESSAGE_PERMISSIONS: dict[str, Who] = {
    "ping": Who.ANYONE,
    "hand.raise": Who.ADMITTED,  # for someone else: moderators (may_act_on_other)
    "hand.lower": Who.ADMITTED,  # for someone else: moderators (may_act_on_other)
    "chat.send": Who.ADMITTED,  # students: may_chat
    "chat.delete": Who.MODERATOR,
    "room.update": Who.MODERATOR,
    "waiting.admit": Who.MODERATOR,
    "waiting.deny": Who.MODERATOR,
    "waiting.admit_all": Who.MODERATOR,
    "presenter.set": Who.MODERATOR,
    "mute": Who.MODERATOR,
    "mute.all": Who.MODERATOR,
    "unmute": Who.ADMITTED,  # oneself only
    "participant.remove": Who.MODERATOR,
    "poll.create": Who.MODERATOR,
    "poll.vote": Who.PARTICIPANT,
    "poll.close": Who.MODERATOR,
    "poll.publish": Who.MODERATOR,
    "slides.open": Who.PRESENTER,
    "slides.goto": Who.PRESENTER,
    "slides.hide": Who.PRESENTER,
    "timer.start": Who.MODERATOR,
    "timer.stop": Who.MODERATOR,
    "report": Who.PARTICIPANT,
    "room.end": Who.MODERATOR,
    "room.leave_open": Who.LESSON_TEACHER,
    # Breakout groups: moderators of a lesson or of one of its groups (check_may_run_groups).
    "groups.open": Who.MODERATOR,  # from the lesson only
    "groups.move": Who.MODERATOR,
    "groups.broadcast": Who.MODERATOR,
    "groups.speak": Who.MODERATOR,  # from the lesson only
    "groups.close": Who.MODERATOR,
    "groups.previous": Who.MODERATOR,
    "group.join": Who.PARTICIPANT,  # in a lesson whose groups students choose
    "help.request": Who.PARTICIPANT,  # in a group
    "help.clear": Who.MODERATOR,
    "draw.set": Who.MODERATOR,
    "annotation.add": Who.ADMITTED,  # drawers only: check_may_draw
    "annotation.extend": Who.ADMITTED,  # drawers only: check_may_draw
    "annotation.undo": Who.ADMITTED,  # drawers only: check_may_draw; others' strokes: moderators
    "annotation.clear": Who.PRESENTER,
    "board.open": Who.PRESENTER,
    "board.page.add": Who.PRESENTER,
    "media": Who.ADMITTED,
}


def has_standing(actor: Actor, who: Who) -> bool:
    if who == Who.ANYONE:
        return True
    if not actor.admitted:
        return False
    if who == Who.ADMITTED:
        return True
    if who == Who.PARTICIPANT:
        return not actor.moderator
    if who == Who.PRESENTER:
        return actor.moderator or actor.presenter
    if who == Who.MODERATOR:
        return actor.moderator
    return actor.moderator and actor.room.kind == Room.Kind.LESSON and actor.user.role in (Role.TEACHER, Role.ADMIN)


def may_send(actor: Actor, message_type: str) -> bool:
    """Whether the table lets this actor send this message type at all."""
    key = "media" if message_type.startswith("media.") else message_type
    who = MESSAGE_PERMISSIONS.get(key)
    return who is not None and has_standing(actor, who)


def check_may_send(actor: Actor, message_type: str) -> None:
    if not may_send(actor, message_type):
        raise Refused("forbidden", "You may not do this in this room.")


def check_may_run_groups(actor: Actor, *, lesson_only: bool = False) -> None:
    """Breakout groups are run by the moderators of a lesson, from it or (but opening) from one of its groups."""
    kinds = (Room.Kind.LESSON,) if lesson_only else (Room.Kind.LESSON, Room.Kind.GROUP)
    if not actor.moderator or actor.room.kind not in kinds:
        raise Refused("forbidden", "Only the teachers of a lesson run its groups, from the lesson.")


def check_may_act_on_other(actor: Actor, target_id: int) -> None:
    """Acting on someone else's hand (or the like) is for moderators."""
    if target_id != actor.user.pk and not actor.moderator:
        raise Refused("forbidden", "Only a moderator may do this for someone else.")


def check_may_chat(actor: Actor, recipient_is_moderator: bool | None) -> None:
    """Students chat while the chat is open to them, and privately only to moderators.

    `recipient_is_moderator` is None for a public message.
    """
    if not actor.is_student:
        return
    room = actor.room
    if room.chat_locked or room.safe_mode:
        raise Refused("locked", "The chat is locked.")
    if not room.students_can.get("chat", True):
        raise Refused("forbidden", "Students may not use the chat now.")
    if recipient_is_moderator is False:
        raise Refused("forbidden", "Students may write privately to moderators only.")


def may_draw(moderator: bool, presenter: bool, has_pen: bool) -> bool:
    """Who draws on the page shown: presenters and moderators, and whom a moderator gave the pen."""
    return moderator or presenter or has_pen


def check_may_draw(actor: Actor, has_pen: bool) -> None:
    if not may_draw(actor.moderator, actor.presenter, has_pen):
        raise Refused("forbidden", "You may not draw here: a moderator can give you the pen.")


def can_download_annotations(user: User, room: Room) -> bool:
    """The room's moderators and whoever was admitted into it (during or after the lesson)."""
    if not user.is_active:
        return False
    if is_room_moderator(user, room):
        return True
    return Participant.objects.filter(room=room, user=user, status=Participant.Status.ADMITTED).exists()


def may_publish(
    room: Room, user: User, *, moderator: bool, presenter: bool, muted_audio: bool, muted_video: bool
) -> dict[str, bool]:
    """What a participant may publish now: room permissions, presenter right, mute, safe mode."""
    if moderator:
        return {"audio": not muted_audio, "video": not muted_video, "screen": True}
    if user.role == Role.STUDENT:
        if room.safe_mode:
            return {"audio": False, "video": False, "screen": False}
        can = room.students_can
        return {
            "audio": bool(can.get("audio")) and not muted_audio,
            "video": bool(can.get("video")) and not muted_video,
            "screen": bool(can.get("screen")) or presenter,
        }
    return {"audio": not muted_audio, "video": not muted_video, "screen": presenter}
