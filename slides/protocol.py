"""The slide events of the room protocol (docs/protocol.md), closed and typed like the room's own.

Their objects (`DeckObject`, `SlidesObject`) are in classroom.protocol, with the `state` that holds them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from classroom.protocol import DeckObject, Event, SlidesObject, StrokeObject


def _is_false(value: object) -> bool:
    return value is False


__all__ = ["DeckObject", "Decks", "SlidesHidden", "SlidesObject", "SlidesPage"]


class SlidesPage(Event):
    """The deck (or, `deck` null and `board` true, the whiteboard) and page shown; `annotations`
    (extension) are the page's strokes, oldest first."""

    type: Literal["slides.page"] = "slides.page"
    deck: str | None
    page: int
    pages: int
    board: bool = Field(default=False, exclude_if=_is_false)
    annotations: list[StrokeObject] = []


class Decks(Event):
    type: Literal["decks"] = "decks"
    decks: list[DeckObject]


class SlidesHidden(Event):
    """Extension: a presenter stopped showing the slides (`state.slides` is null now)."""

    type: Literal["slides.hidden"] = "slides.hidden"
