"""Raised hands: a queue in raise order, kept in the database so a reconnect restores it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import protocol as p
from ..permissions import Actor, check_may_act_on_other, check_may_send
from .common import broadcast_hands, broadcast_participant, target


def check_hand(actor: Actor, message: p.HandRaise | p.HandLower) -> int:
    """Return the user id whose hand moves."""
    check_may_send(actor, message.type)
    user_id = int(message.id) if message.id is not None else actor.user.pk
    check_may_act_on_other(actor, user_id)
    return user_id


@transaction.atomic
def do_set_hand(actor: Actor, message: p.HandRaise | p.HandLower) -> None:
    user_id = check_hand(actor, message)
    participant = target(actor.room, str(user_id))
    raised = isinstance(message, p.HandRaise)
    if raised == (participant.hand_raised_at is not None):
        return
    participant.hand_raised_at = timezone.now() if raised else None
    participant.save(update_fields=["hand_raised_at", "updated_at"])
    broadcast_hands(actor.room)
    broadcast_participant(actor.room, participant, p.ParticipantUpdated)
