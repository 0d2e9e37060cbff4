"""The slide events of the room protocol (SPEC section 4), closed and typed like the room's own."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from classroom.protocol import Event


class DeckObject(BaseModel):
    """A deck of the room's class; `progress` (pages rendered) and `error` extend SPEC's object."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    pages: int
    status: Literal["rendering", "ready", "failed"]
    progress: int
    error: str | None


class SlidesObject(BaseModel):
    """The deck a room shows and its page (from 1)."""

    model_config = ConfigDict(extra="forbid")

    deck: str
    page: int
    pages: int


class SlidesPage(Event):
    type: Literal["slides.page"] = "slides.page"
    deck: str
    page: int
    pages: int


class Decks(Event):
    type: Literal["decks"] = "decks"
    decks: list[DeckObject]
