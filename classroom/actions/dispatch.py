"""The dispatch table: which action handles each client message type.

A handler takes the actor and the parsed message, asks the permission table, changes state,
and returns its `ok` reply (a `protocol.Ok`, or None for a plain one). `media.*` messages do not come here:
the consumer passes them to `classroom.media.handle_media_message`. Apps beside the classroom
(slides) add their handlers at start with `add_handlers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .. import protocol as p
from ..ballots import live_vote
from ..permissions import Actor, check_may_send
from . import chat, hands, lifecycle, moderation, polls, presence, reports, timer
from .common import Handler


def do_ping(actor: Actor, message: p.Ping) -> None:
    check_may_send(actor, message.type)


HANDLERS: dict[str, Handler] = {
    "ping": do_ping,
    "hand.raise": hands.do_set_hand,
    "hand.lower": hands.do_set_hand,
    "chat.send": chat.do_chat_send,
    "chat.delete": chat.do_chat_delete,
    "room.update": moderation.do_room_update,
    "waiting.admit": presence.do_admit,
    "waiting.deny": presence.do_deny,
    "waiting.admit_all": presence.do_admit_all,
    "presenter.set": moderation.do_presenter_set,
    "mute": moderation.do_mute,
    "mute.all": moderation.do_mute_all,
    "unmute": moderation.do_unmute,
    "participant.remove": presence.do_remove,
    "poll.create": polls.do_poll_create,
    "poll.vote": polls.do_poll_vote,
    "poll.close": polls.do_poll_close,
    "poll.publish": polls.do_poll_publish,
    "report": reports.do_report,
    "room.end": lifecycle.do_end,
    "room.leave_open": lifecycle.do_leave_open,
    "timer.start": timer.do_timer_start,
    "timer.stop": timer.do_timer_stop,
}


def add_handlers(handlers: dict[str, Handler]) -> None:
    """Add an app's handlers to the table (its `AppConfig.ready`); a message type has one handler."""
    taken = HANDLERS.keys() & handlers.keys()
    assert not taken, f"message types already handled: {sorted(taken)}"
    HANDLERS.update(handlers)


# Handlers that answer on the event loop, with no database turn, before HANDLERS' (drawing's point
# batches, slides.annotations): one returns None when the message is not its to answer here, and
# the message goes on to its handler in HANDLERS. Their actor is the socket's own (admission, no read).
# A vote is one: it waits for its batch (`classroom.ballots`), whose transaction checks the voter's
# standing again; a socket outside the room (no `room`) still goes to `polls.do_poll_vote`.
LiveHandler = Callable[[Actor, Any], Awaitable[p.Ok | None]]
LIVE_HANDLERS: dict[str, LiveHandler] = {"poll.vote": live_vote}
# Called with (room id, user id) when a socket's own `participant.updated` reaches it, and when it closes.
SocketHook = Callable[[str, int, dict[str, Any]], Awaitable[None]]
OWN_UPDATE_HOOKS: list[SocketHook] = []
CLOSE_HOOKS: list[Callable[[str, int], Awaitable[None]]] = []


def add_live_handlers(handlers: dict[str, LiveHandler]) -> None:
    taken = LIVE_HANDLERS.keys() & handlers.keys()
    assert not taken, f"message types already handled live: {sorted(taken)}"
    LIVE_HANDLERS.update(handlers)
