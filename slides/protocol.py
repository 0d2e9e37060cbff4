"""The slide events of the room protocol (docs/protocol.md), closed and typed like the room's own.

Their objects (`DeckObject`, `SlidesObject`) are in classroom.protocol, with the `state` that holds them.
"""

from __future__ import annotations

from typing import Literal

from classroom.protocol import DeckObject, Event, SlidesObject

__all__ = ["DeckObject", "Decks", "SlidesHidden", "SlidesObject", "SlidesPage"]


class SlidesPage(Event):
    type: Literal["slides.page"] = "slides.page"
    deck: str
    page: int
    pages: int


class Decks(Event):
    type: Literal["decks"] = "decks"
    decks: list[DeckObject]


class SlidesHidden(Event):
    """Extension: a presenter stopped showing the slides (`state.slides` is null now)."""

    type: Literal["slides.hidden"] = "slides.hidden"
