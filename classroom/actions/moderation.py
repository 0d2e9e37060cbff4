"""Moderators' controls: room settings, presenter right, mute."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Role

from .. import events
from .. import protocol as p
from ..models import Participant, Room, RoomLogEntry
from ..permissions import Actor, Refused, check_may_send
from . import serialize
from .common import broadcast_participant, is_moderator, log, push_permissions, target
from .presence import admit_locked_students


@transaction.atomic
def do_room_update(actor: Actor, message: p.RoomUpdate) -> None:
    check_may_send(actor, message.type)
    room = Room.objects.select_for_update().get(pk=actor.room.pk)
    was_locked = room.locked
    if message.locked is not None:
        room.locked = message.locked
    if message.chat_locked is not None:
        room.chat_locked = message.chat_locked
    if message.students_can is not None:
        room.students_can = {**room.students_can, **message.students_can.model_dump(exclude_none=True)}
    room.save(update_fields=["locked", "chat_locked", "students_can"])
    events.send_event_on_commit(events.room_group(room.pk), p.RoomUpdated(room=serialize.room_object(room)))
    if message.students_can is not None:
        students = room.participants.select_related("user").filter(
            status=Participant.Status.ADMITTED, connections__gt=0, user__role=Role.STUDENT
        )
        for participant in students:
            push_permissions(room, participant)
    if was_locked and not room.locked:
        admit_locked_students(room, actor.user)


@transaction.atomic
def do_presenter_set(actor: Actor, message: p.PresenterSet) -> None:
    check_may_send(actor, message.type)
    participant = target(actor.room, message.id)
    if participant.presenter == message.presenter:
        return
    participant.presenter = message.presenter
    participant.save(update_fields=["presenter", "updated_at"])
    broadcast_participant(actor.room, participant, p.ParticipantUpdated)
    push_permissions(actor.room, participant)


def _mute(actor: Actor, participant: Participant, kind: str) -> None:
    if kind == "audio":
        participant.muted_audio, participant.audio = True, False
    else:
        participant.muted_video, participant.video = True, False
    participant.save(update_fields=["muted_audio", "audio", "muted_video", "video", "updated_at"])
    # Forwarding stops first; the `muted` event then tells the target it already happened.
    push_permissions(actor.room, participant)
    events.send_event_on_commit(
        events.user_group(actor.room.pk, participant.user_id),
        p.Muted(kind=kind, by=serialize.sender(actor.user)),  # type: ignore[arg-type]
    )
    broadcast_participant(actor.room, participant, p.ParticipantUpdated)
    log(actor.room, RoomLogEntry.Kind.MUTE, actor=actor.user, target=participant.user, kind=kind)


@transaction.atomic
def do_mute(actor: Actor, message: p.Mute) -> None:
    check_may_send(actor, message.type)
    _mute(actor, target(actor.room, message.id), message.kind)


@transaction.atomic
def do_mute_all(actor: Actor, message: p.MuteAll) -> p.MutedAll:
    check_may_send(actor, message.type)
    present = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=actor.room, status=Participant.Status.ADMITTED, connections__gt=0)
    )
    muted = []
    for participant in present:
        if not is_moderator(actor.room, participant.user):
            _mute(actor, participant, message.kind)
            muted.append(str(participant.user_id))
    return p.MutedAll(muted=muted)


@transaction.atomic
def do_unmute(actor: Actor, message: p.Unmute) -> None:
    """Lift a moderator's mute on oneself, so that one may publish that source again."""
    check_may_send(actor, message.type)
    participant = target(actor.room, str(actor.user.pk))
    field = "muted_audio" if message.kind == "audio" else "muted_video"
    if not getattr(participant, field):
        raise Refused("conflict", "You are not muted.")
    setattr(participant, field, False)
    participant.save(update_fields=[field, "updated_at"])
    push_permissions(actor.room, participant)
    broadcast_participant(actor.room, participant, p.ParticipantUpdated)
