"""The slides part of `state`; the slides app replaces this with the class's decks."""

from __future__ import annotations

from typing import Any

from accounts.models import User

from ..models import Room


def slides_state(room: Room, user: User) -> dict[str, Any]:
    """`decks` (the class's decks) and `slides` (the deck shown, or None) for `state`."""
    return {"decks": [], "slides": None}
