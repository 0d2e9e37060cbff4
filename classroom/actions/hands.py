"""Raised hands: a queue in raise order, kept in the database so a reconnect restores it."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from .. import protocol as p
from ..models import Participant
from ..permissions import Actor, Refused, check_may_act_on_other, check_may_send
from .common import broadcast_hands, broadcast_participant
from .serialize import hands_of


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
    # the queue and the participant in one query: the raised hands present, and this one's row
    rows = list(
        Participant.objects.filter(
            Q(connections__gt=0, listening=False, hand_raised_at__isnull=False) | Q(user_id=user_id),
            room=actor.room,
            status=Participant.Status.ADMITTED,
        ).select_related("user")
    )
    queue = hands_of(row for row in rows if row.connections > 0 and not row.listening)
    broadcast_hands(actor.room, queue)
    participant = next((row for row in rows if row.user_id == user_id), None)
    if participant is not None:  # not gone meanwhile
        broadcast_participant(actor.room, participant, p.ParticipantUpdated)
