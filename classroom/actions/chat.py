"""The room chat: public or private messages, stored and sent as plain text."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from .. import events
from .. import protocol as p
from ..models import ChatMessage, Participant, RoomLogEntry
from ..permissions import Actor, Refused, check_may_chat, check_may_send, is_room_moderator
from . import serialize
from .common import log


def check_chat_send(actor: Actor, message: p.ChatSend) -> User | None:
    """Return the recipient of a private message (None for a public one)."""
    check_may_send(actor, message.type)
    recipient: User | None = None
    if message.to is not None:
        participant = (
            Participant.objects.select_related("user")
            .filter(room=actor.room, user_id=int(message.to), status=Participant.Status.ADMITTED)
            .first()
        )
        if participant is None or participant.user_id == actor.user.pk:
            raise Refused("not_found", "No such participant here.")
        recipient = participant.user
    check_may_chat(actor, None if recipient is None else is_room_moderator(recipient, actor.room))
    return recipient


def do_chat_send(actor: Actor, message: p.ChatSend) -> p.ChatSent:
    # One INSERT, no transaction around it: BEGIN and COMMIT would be two more round trips for
    # every message, and the events leave once it is stored (on_commit runs them at once).
    recipient = check_chat_send(actor, message)
    chat = ChatMessage.objects.create(room=actor.room, sender=actor.user, recipient=recipient, text=message.text)
    event = p.ChatMessageEvent(message=serialize.chat_object(chat))
    if recipient is None:
        events.send_event_on_commit(events.room_group(actor.room.pk), event)
    else:
        events.send_event_on_commit(events.user_group(actor.room.pk, actor.user.pk), event)
        events.send_event_on_commit(events.user_group(actor.room.pk, recipient.pk), event)
    return p.ChatSent(id=str(chat.pk))


@transaction.atomic
def do_chat_delete(actor: Actor, message: p.ChatDelete) -> None:
    check_may_send(actor, message.type)
    chat = (
        ChatMessage.objects.select_for_update()
        .filter(room=actor.room, pk=int(message.id), deleted_at__isnull=True)
        .first()
    )
    if chat is None:
        raise Refused("not_found", "No such message.")
    chat.deleted_at = timezone.now()
    chat.deleted_by = actor.user
    chat.save(update_fields=["deleted_at", "deleted_by"])
    log(
        actor.room,
        RoomLogEntry.Kind.CHAT_DELETED,
        actor=actor.user,
        target=chat.sender,
        message=chat.pk,
        text=chat.text,
    )
    events.send_event_on_commit(events.room_group(actor.room.pk), p.ChatDeleted(id=str(chat.pk)))
