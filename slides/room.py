"""The slides part of the room: `decks`/`slides` in `state`, and the presenter's three messages.

The classroom knows nothing of slides: `SlidesConfig.ready` adds these to the room's dispatch
table and to its `state` (classroom.actions.dispatch.add_handlers, presence.add_state_part).
"""

from __future__ import annotations

from typing import Any

from accounts.models import User
from classroom import protocol as p
from classroom.actions.common import Handler
from classroom.models import Room
from classroom.permissions import Actor, check_may_send

from .actions import decks_state, do_goto_page, do_hide_slides, do_open_deck
from .actions import slides_state as shown_slides


def slides_state(room: Room, user: User) -> dict[str, Any]:
    """`decks` (the class's decks) and `slides` (the deck shown, or None) for `state`."""
    return {"decks": decks_state(room), "slides": shown_slides(room)}


def do_slides_open(actor: Actor, message: p.SlidesOpen) -> p.SlidesShown:
    check_may_send(actor, message.type)
    return p.SlidesShown(slides=do_open_deck(actor.room, actor.user, message.deck))


def do_slides_goto(actor: Actor, message: p.SlidesGoto) -> p.SlidesShown:
    check_may_send(actor, message.type)
    return p.SlidesShown(slides=do_goto_page(actor.room, actor.user, message.page))


def do_slides_hide(actor: Actor, message: p.SlidesHide) -> None:
    check_may_send(actor, message.type)
    do_hide_slides(actor.room, actor.user)


HANDLERS: dict[str, Handler] = {
    "slides.open": do_slides_open,
    "slides.goto": do_slides_goto,
    "slides.hide": do_slides_hide,
}
