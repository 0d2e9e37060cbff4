"""What a participant is publishing now, as the media bridge reports it."""

from __future__ import annotations

from django.db import transaction

from .. import protocol as p
from ..models import Participant
from .common import broadcast_participant, permissions_of


def publish_permissions(room_id: str, user_id: str) -> dict[str, bool] | None:
    """What an admitted participant may publish, from the database (None if not admitted here).

    The database is the truth; the media bus's copy in Redis is rebuilt from it (Redis may restart).
    """
    participant = (
        Participant.objects.select_related("user", "room__school_class")
        .filter(room_id=room_id, user_id=int(user_id), status=Participant.Status.ADMITTED, room__ended_at__isnull=True)
        .first()
    )
    if participant is None:
        return None
    return permissions_of(participant.room, participant)


@transaction.atomic
def do_set_publishing(
    room_id: str, user_id: str, *, audio: bool | None = None, video: bool | None = None, screen: bool | None = None
) -> None:
    """Record which sources are forwarded now and tell the room (`participant.updated`)."""
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user", "room")
        .filter(room_id=room_id, user_id=int(user_id), status=Participant.Status.ADMITTED)
        .first()
    )
    if participant is None:
        return
    changed = {
        name: value
        for name, value in (("audio", audio), ("video", video), ("screen", screen))
        if value is not None and getattr(participant, name) != value
    }
    if not changed:
        return
    for name, value in changed.items():
        setattr(participant, name, value)
    participant.save(update_fields=[*changed, "updated_at"])
    broadcast_participant(participant.room, participant, p.ParticipantUpdated)
