"""Reports from participants to the room's moderators."""

from __future__ import annotations

from django.db import transaction

from .. import events
from .. import protocol as p
from ..models import Report, RoomLogEntry
from ..permissions import Actor, check_may_send
from . import serialize
from .common import log


@transaction.atomic
def do_report(actor: Actor, message: p.ReportSend) -> None:
    check_may_send(actor, message.type)
    report = Report.objects.create(room=actor.room, user=actor.user, text=message.text)
    log(actor.room, RoomLogEntry.Kind.REPORT, actor=actor.user, text=message.text)
    events.send_event_on_commit(
        events.moderators_group(actor.room.pk),
        p.ReportEvent(from_=serialize.sender(actor.user), text=report.text, at=serialize.iso(report.created_at) or ""),
    )
