"""The slides part of the room: `decks`/`slides` in `state`, and the presenter's two messages.

The behaviour lives in the slides app (slides.actions); this adapts it to the dispatch table.
"""

from __future__ import annotations

from typing import Any

from accounts.models import User
from slides.actions import decks_state, do_goto_page, do_open_deck
from slides.actions import slides_state as shown_slides

from .. import protocol as p
from ..models import Room
from ..permissions import Actor, check_may_send


def slides_state(room: Room, user: User) -> dict[str, Any]:
    """`decks` (the class's decks) and `slides` (the deck shown, or None) for `state`."""
    shown = shown_slides(room)
    return {
        "decks": [deck.model_dump() for deck in decks_state(room)],
        "slides": shown.model_dump() if shown else None,
    }


def do_slides_open(actor: Actor, message: p.SlidesOpen) -> dict[str, Any]:
    check_may_send(actor, message.type)
    return {"slides": do_open_deck(actor.room, actor.user, message.deck).model_dump()}


def do_slides_goto(actor: Actor, message: p.SlidesGoto) -> dict[str, Any]:
    check_may_send(actor, message.type)
    return {"slides": do_goto_page(actor.room, actor.user, message.page).model_dump()}
