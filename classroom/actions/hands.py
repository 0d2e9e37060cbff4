"""Raised hands: a queue in raise order, kept in the database so a reconnect restores it."""

from __future__ import annotations

from django.utils import timezone

from .. import protocol as p
from ..models import Participant
from ..permissions import Actor, Refused, check_may_act_on_other, check_may_send
from .common import broadcast_hands, broadcast_participant


def check_hand(actor: Actor, message: p.HandRaise | p.HandLower) -> int:
    """Return the user id whose hand moves."""
    check_may_send(actor, message.type)
    user_id = int(message.id) if message.id is not None else actor.user.pk
    check_may_act_on_other(actor, user_id)
    return user_id


def do_set_hand(actor: Actor, message: p.HandRaise | p.HandLower) -> None:
    user_id = check_hand(actor, message)
    raised = isinstance(message, p.HandRaise)
    now = timezone.now()
    # One conditional UPDATE instead of a transaction with a locked read (BEGIN, SELECT … FOR
    # UPDATE, UPDATE, COMMIT): of two tabs raising at once, one changes the row and tells the room.
    present = Participant.objects.filter(room=actor.room, user_id=user_id, status=Participant.Status.ADMITTED)
    if not present.filter(hand_raised_at__isnull=raised).update(hand_raised_at=now if raised else None, updated_at=now):
        if user_id != actor.user.pk and not present.exists():
            raise Refused("not_found", "No such participant here.")
        return  # already so
    broadcast_hands(actor.room)
    participant = present.select_related("user").first()
    if participant is not None:  # not gone meanwhile
        broadcast_participant(actor.room, participant, p.ParticipantUpdated)
