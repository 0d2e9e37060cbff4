"""The bridge from the app to the media forwarder (media_server never imports us).

The room consumer hands every `media.*` message of an admitted participant to
`handle_media_message`, and calls `update_permissions` whenever what a
participant may publish changes (room permissions, presenter rights, mute,
safe mode), and `participant_left` / `room_closed` on the way out.
"""

from __future__ import annotations

from typing import Any


async def handle_media_message(room_id: str, user_id: str, message: dict[str, Any]) -> None:
    """Pass a media.* message from an admitted participant to the forwarder."""


async def update_permissions(
    room_id: str, user_id: str, *, audio: bool, video: bool, screen: bool, always_forward: bool
) -> None:
    """Tell the forwarder what this participant may publish now; it stops the rest at once."""


async def participant_left(room_id: str, user_id: str) -> None:
    """Stop forwarding to and from a participant who left."""


async def room_closed(room_id: str) -> None:
    """Tear down the room's media."""


def media_health() -> dict[str, Any] | str:
    return "ok"
