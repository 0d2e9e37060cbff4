"""Breakout groups (docs/protocol.md, "Breakout groups"): a lesson's students split into rooms of kind `group`.

Each group is a room of its own (its `parent` the lesson) with the whole protocol. Who is in which
group is `GroupMember`; a student enters only their own group's room (`permissions.may_knock`).
The lesson's moderators follow every group through `groups.overview` (`classroom.group_live`).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .. import events, media
from .. import protocol as p
from ..models import GroupMember, Participant, Room, RoomLogEntry
from ..permissions import Actor, Refused, check_may_run_groups, check_may_send, is_moderator_with, team_ids
from . import serialize
from .common import OVERVIEW, Handler, log, notify_overview
from .lifecycle import end_room, seconds_per_minute


def lesson_of(room: Room) -> Room:
    """The lesson a room belongs to: itself, or a group's parent."""
    if room.kind == Room.Kind.GROUP and room.parent_id is not None:
        return Room.objects.select_related("school_class").get(pk=room.parent_id)
    return room


def live_groups(lesson: Room) -> QuerySet[Room]:
    """The lesson's groups running now, in the order they were opened."""
    return Room.objects.filter(parent=lesson, kind=Room.Kind.GROUP, ended_at__isnull=True).order_by("created_at", "pk")


def locked_lesson(room: Room) -> Room:
    """The room's lesson, its row locked: group actions of one lesson run one at a time."""
    lesson_id = room.parent_id if room.kind == Room.Kind.GROUP else room.pk
    if lesson_id is None:
        raise ValueError(f"group room {room.pk} has no lesson")
    return Room.objects.select_for_update(of=("self",)).select_related("school_class").get(pk=lesson_id)


def group_object(group: Room) -> p.GroupObject:
    return p.GroupObject(id=str(group.pk), name=group.title, room=str(group.pk))


def groups_object(lesson: Room, user: User | None = None) -> p.GroupsObject | None:
    """What the lesson's sockets know of its groups (`mine` for `user`), or None when none run."""
    groups = list(live_groups(lesson))
    if not groups:
        return None
    mine = None
    if user is not None:
        mine = GroupMember.objects.filter(group__in=groups, user=user).values_list("group_id", flat=True).first()
    return p.GroupsObject(
        mode="choose" if lesson.groups_choose else "assigned",
        ends_at=serialize.iso(lesson.groups_end_at),
        groups=[group_object(group) for group in groups],
        mine=str(mine) if mine is not None else None,
    )


def state_part(room: Room, user: User) -> dict[str, Any]:
    """`state.groups` in a lesson whose groups run, `state.group` in a group room."""
    if room.kind == Room.Kind.LESSON:
        groups = groups_object(room, user)
        return {"groups": groups} if groups is not None else {}
    if room.kind == Room.Kind.GROUP and room.parent_id is not None:
        lesson = Room.objects.only("groups_end_at").get(pk=room.parent_id)
        here = p.GroupHere(
            id=str(room.pk),
            name=room.title,
            room=str(room.pk),
            lesson=str(room.parent_id),
            ends_at=serialize.iso(lesson.groups_end_at),
        )
        return {"group": here}
    return {}


def eligible(lesson: Room) -> set[int]:
    """Who may be put in a group: the class's students, and guests admitted into the lesson."""
    students = set(lesson.school_class.students.values_list("pk", flat=True)) if lesson.school_class else set()
    team = team_ids(lesson)
    guests = Participant.objects.filter(room=lesson, status=Participant.Status.ADMITTED).select_related("user")
    students |= {guest.user_id for guest in guests if not is_moderator_with(lesson, guest.user, team)}
    return students


def _check_eligible(lesson: Room, user_ids: list[int]) -> None:
    allowed = eligible(lesson)
    unknown = [user_id for user_id in user_ids if user_id not in allowed]
    if unknown:
        raise Refused("invalid", f"User {unknown[0]} is not a student of this lesson.")


def _random_lists(lesson: Room, count: int) -> list[list[int]]:
    """Every student of the lesson dealt into `count` groups: those here first, so that each group
    has as many of them as can be, then the absent ones, who land in their group when they come."""
    students = eligible(lesson)
    if len(students) < count:
        raise Refused("invalid", f"{count} groups need at least {count} students; this lesson has {len(students)}.")
    connected = set(
        Participant.objects.filter(
            room=lesson, user_id__in=students, status=Participant.Status.ADMITTED, connections__gt=0
        ).values_list("user_id", flat=True)
    )
    here, absent = sorted(connected), sorted(students - connected)
    random.shuffle(here)
    random.shuffle(absent)
    dealt = here + absent
    return [dealt[number::count] for number in range(count)]


def _move_log(lesson: Room, actor: User | None, user_id: int, group: Room) -> None:
    RoomLogEntry.objects.create(
        room=lesson,
        kind=RoomLogEntry.Kind.GROUP_MOVE,
        actor=actor,
        target_id=user_id,
        data={"group": str(group.pk), "name": group.title},
    )


def _tell_groups(lesson: Room) -> None:
    """Everyone in the lesson learns which groups run (students pick one in choose mode)."""
    events.send_event_on_commit(events.room_group(lesson.pk), p.GroupsUpdated(groups=groups_object(lesson)))
    events.send_control_on_commit(events.moderators_group(lesson.pk), OVERVIEW)


@transaction.atomic
def do_groups_open(actor: Actor, message: p.GroupsOpen) -> p.GroupsOpened:
    check_may_send(actor, message.type)
    check_may_run_groups(actor, lesson_only=True)
    lesson = locked_lesson(actor.room)
    if live_groups(lesson).exists():
        raise Refused("conflict", "Groups are open already; close them first.")
    if message.groups is not None:
        lists = [[int(user_id) for user_id in members] for members in message.groups]
        _check_eligible(lesson, [user_id for members in lists for user_id in members])
    elif message.mode == "random":
        lists = _random_lists(lesson, message.count or 0)
    else:
        lists = [[] for _number in range(message.count or 0)]
    names = message.names or [_("Group %(number)d") % {"number": number} for number in range(1, len(lists) + 1)]
    lesson.groups_choose = message.mode == "choose"
    minutes = message.minutes
    lesson.groups_end_at = timezone.now() + timedelta(seconds=minutes * seconds_per_minute()) if minutes else None
    lesson.save(update_fields=["groups_choose", "groups_end_at"])
    opened: list[p.OpenedGroup] = []
    for name, members in zip(names, lists, strict=True):
        group = Room.objects.create(
            kind=Room.Kind.GROUP,
            parent=lesson,
            school_class_id=lesson.school_class_id,
            title=name,
            created_by=actor.user,
            students_can=dict(lesson.students_can),
        )
        GroupMember.objects.bulk_create([GroupMember(group=group, user_id=user_id) for user_id in members])
        assigned = p.GroupAssigned(group=group_object(group))
        for user_id in members:
            _move_log(lesson, actor.user, user_id, group)
            events.send_event_on_commit(events.user_group(lesson.pk, user_id), assigned)
        opened.append(p.OpenedGroup(**group_object(group).model_dump(), members=[str(user_id) for user_id in members]))
    log(
        lesson,
        RoomLogEntry.Kind.GROUPS_OPENED,
        actor=actor.user,
        groups=[group.model_dump() for group in opened],
        minutes=minutes,
        mode=message.mode or "assigned",
    )
    _tell_groups(lesson)
    # on the lesson's media node, so that the teacher's microphone can be heard in them (groups.speak)
    events.call_on_commit(media.colocate, [group.id for group in opened], str(lesson.pk))
    return p.GroupsOpened(groups=opened)


def _place(lesson: Room, actor: User, user_id: int, group: Room) -> None:
    """Put a user in a group of the lesson (out of the one they were in); their pages move there."""
    current = GroupMember.objects.select_related("group").filter(group__in=live_groups(lesson), user_id=user_id).first()
    if current is not None and current.group_id == group.pk:
        return
    assigned = p.GroupAssigned(group=group_object(group))
    if current is not None:
        old = current.group
        current.delete()
        # the page in the old group moves; its socket there closes so that it cannot stay
        events.send_event_on_commit(events.user_group(old.pk, user_id), assigned)
        events.send_control_on_commit(events.user_group(old.pk, user_id), "leave")
        notify_overview(old)
    GroupMember.objects.create(group=group, user_id=user_id)
    _move_log(lesson, actor, user_id, group)
    events.send_event_on_commit(events.user_group(lesson.pk, user_id), assigned)
    notify_overview(group)


def _live_group(lesson: Room, group_id: str) -> Room:
    group = live_groups(lesson).filter(pk=group_id).first()
    if group is None:
        raise Refused("not_found", "No such group in this lesson now.")
    return group


@transaction.atomic
def do_groups_move(actor: Actor, message: p.GroupsMove) -> None:
    check_may_send(actor, message.type)
    check_may_run_groups(actor)
    lesson = locked_lesson(actor.room)
    group = _live_group(lesson, message.group)
    _check_eligible(lesson, [int(message.id)])
    _place(lesson, actor.user, int(message.id), group)


@transaction.atomic
def do_group_join(actor: Actor, message: p.GroupJoin) -> None:
    """A student picks their group while the lesson's groups are open for choosing."""
    check_may_send(actor, message.type)
    if actor.room.kind != Room.Kind.LESSON:
        raise Refused("conflict", "Groups are chosen from the lesson.")
    lesson = locked_lesson(actor.room)
    if not lesson.groups_choose:
        raise Refused("conflict", "The groups of this lesson are not open for choosing.")
    _place(lesson, actor.user, actor.user.pk, _live_group(lesson, message.group))


@transaction.atomic
def do_groups_broadcast(actor: Actor, message: p.GroupsBroadcast) -> None:
    check_may_send(actor, message.type)
    check_may_run_groups(actor)
    lesson = lesson_of(actor.room)
    groups = list(live_groups(lesson).values_list("pk", flat=True))
    if not groups:
        raise Refused("conflict", "No groups are open.")
    event = p.GroupBroadcast(text=message.text, from_=serialize.sender(actor.user))
    for group_id in groups:
        events.send_event_on_commit(events.room_group(group_id), event)


def do_groups_speak(actor: Actor, message: p.GroupsSpeak) -> None:
    """The teacher's microphone in the lesson is heard in every group while the button is held."""
    check_may_send(actor, message.type)
    check_may_run_groups(actor, lesson_only=True)
    groups = [str(group_id) for group_id in live_groups(actor.room).values_list("pk", flat=True)]
    if message.on and not groups:
        raise Refused("conflict", "No groups are open.")
    events.call_on_commit(media.relay, str(actor.room.pk), str(actor.user.pk), groups, message.on)


def close_groups(lesson: Room, actor: User | None) -> int:
    """End every group of the lesson (row locked): their members go back into the lesson."""
    groups = list(Room.objects.select_for_update().filter(parent=lesson, kind=Room.Kind.GROUP, ended_at__isnull=True))
    for group in groups:
        # before `ended`, so that the page knows where to go rather than that the room is over
        events.send_event_on_commit(events.everyone_group(group.pk), p.GroupClosed(room=str(lesson.pk)))
        end_room(group, Room.EndReason.GROUPS_CLOSED)
    lesson.groups_end_at = None
    lesson.groups_choose = False
    lesson.save(update_fields=["groups_end_at", "groups_choose"])
    if groups:
        log(lesson, RoomLogEntry.Kind.GROUPS_CLOSED, actor=actor, groups=len(groups))
        _tell_groups(lesson)
    return len(groups)


@transaction.atomic
def do_groups_close(actor: Actor, message: p.GroupsClose) -> None:
    check_may_send(actor, message.type)
    check_may_run_groups(actor)
    if not close_groups(locked_lesson(actor.room), actor.user):
        raise Refused("conflict", "No groups are open.")


@transaction.atomic
def do_close_groups_if_due(lesson_id: str) -> bool:
    """Close a lesson's groups whose time is up (the timer); True if they closed now."""
    lesson = Room.objects.select_for_update().filter(pk=lesson_id).first()
    if lesson is None or lesson.groups_end_at is None or lesson.groups_end_at > timezone.now():
        return False
    return close_groups(lesson, None) > 0


def do_close_due_groups() -> int:
    """Close the groups of every lesson whose groups' time is up (the periodic sweep)."""
    due = Room.objects.filter(kind=Room.Kind.LESSON, groups_end_at__lte=timezone.now()).values_list("pk", flat=True)
    return sum(do_close_groups_if_due(str(lesson_id)) for lesson_id in list(due))


def do_groups_previous(actor: Actor, message: p.GroupsPrevious) -> p.PreviousGroups:
    """The groups of the class's latest earlier lesson that had groups, with whom may still join them."""
    check_may_send(actor, message.type)
    check_may_run_groups(actor)
    lesson = lesson_of(actor.room)
    earlier = (
        Room.objects.filter(kind=Room.Kind.GROUP, school_class_id=lesson.school_class_id, parent__isnull=False)
        .exclude(parent=lesson)
        .order_by("-parent__created_at", "created_at", "pk")
    )
    latest = earlier.values_list("parent_id", flat=True).first()
    if latest is None:
        return p.PreviousGroups(groups=[])
    allowed = eligible(lesson)
    found = []
    for group in earlier.filter(parent_id=latest):
        members = [str(user_id) for user_id in group.members.values_list("user_id", flat=True) if user_id in allowed]
        found.append(p.PreviousGroup(name=group.title, members=members))
    return p.PreviousGroups(groups=found)


@transaction.atomic
def do_help_request(actor: Actor, message: p.HelpRequest) -> None:
    """A group member calls the teacher: `help` for the group until a moderator comes or clears it."""
    check_may_send(actor, message.type)
    if actor.room.kind != Room.Kind.GROUP:
        raise Refused("conflict", "Call the teacher from a group.")
    group = Room.objects.select_for_update().get(pk=actor.room.pk)
    if group.help_requested_at is None:
        group.help_requested_at = timezone.now()
        group.save(update_fields=["help_requested_at"])
        notify_overview(group)


def clear_help(group: Room) -> None:
    """The group's call for help is answered (row locked)."""
    if group.help_requested_at is not None:
        group.help_requested_at = None
        group.save(update_fields=["help_requested_at"])
        notify_overview(group)


@transaction.atomic
def do_help_clear(actor: Actor, message: p.HelpClear) -> None:
    check_may_send(actor, message.type)
    check_may_run_groups(actor)
    lesson = lesson_of(actor.room)
    group = Room.objects.select_for_update().filter(pk=_live_group(lesson, message.group).pk).get()
    clear_help(group)


def speakers(group_ids: list[str]) -> dict[str, list[str]]:
    """Who speaks now in each of these group rooms, as the forwarder last reported it (the cache)."""
    return {group_id: sorted(media.speaking(group_id)) for group_id in group_ids}


def overview(lesson_id: str) -> p.GroupsOverview | None:
    """Every running group of the lesson as its moderators see it; None once the lesson has ended."""
    lesson = Room.objects.filter(pk=lesson_id, kind=Room.Kind.LESSON, ended_at__isnull=True).first()
    if lesson is None:
        return None
    groups = list(live_groups(lesson))
    present: dict[Any, list[Participant]] = {group.pk: [] for group in groups}
    rows = Participant.objects.filter(
        room__in=groups, status=Participant.Status.ADMITTED, connections__gt=0, listening=False
    )
    for participant in rows.select_related("user").order_by("created_at", "pk"):
        present[participant.room_id].append(participant)
    members: dict[Any, list[p.Sender]] = {group.pk: [] for group in groups}
    for member in GroupMember.objects.filter(group__in=groups).select_related("user"):
        members[member.group_id].append(serialize.sender(member.user))
    team = team_ids(lesson)
    speaking = speakers([str(group.pk) for group in groups])
    return p.GroupsOverview(
        groups=[
            p.OverviewGroup(
                **group_object(group).model_dump(),
                # a group's moderators are its lesson's: the lesson's team, read once
                participants=serialize.participant_objects(group, present[group.pk], team),
                hands=serialize.hands_of(present[group.pk]),
                speaking=speaking[str(group.pk)],
                help=group.help_requested_at is not None,
                help_at=serialize.iso(group.help_requested_at),
                members=members[group.pk],
            )
            for group in groups
        ],
        ends_at=serialize.iso(lesson.groups_end_at),
    )


HANDLERS: dict[str, Handler] = {
    "groups.open": do_groups_open,
    "groups.move": do_groups_move,
    "groups.broadcast": do_groups_broadcast,
    "groups.speak": do_groups_speak,
    "groups.close": do_groups_close,
    "groups.previous": do_groups_previous,
    "group.join": do_group_join,
    "help.request": do_help_request,
    "help.clear": do_help_clear,
}
