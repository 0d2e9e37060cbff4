"""The room socket's close codes (docs/protocol.md, "Close codes"): the one table, for the server and the page.

The room page reads the same table, rendered into it as JSON (`page_table`), to know after which
codes reconnecting cannot help. Every code must be one that daphne can send: autobahn refuses any
close code but 1000 and 3000-4999 (which is why WebSocket's own 1012 became 4012).
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypedDict


class CloseCode(IntEnum):
    """Why the server closed a room socket."""

    NORMAL = 1000
    """The teacher's own sockets after `room.leave_open`."""
    RESTART = 4012
    """Redis restarted under the socket (its groups are gone); the page reconnects and joins its media again."""
    PROTOCOL = 4400
    """A frame over 64 KiB, a burst of invalid frames or of server failures."""
    UNAUTHENTICATED = 4401
    """No session, or the user logged out (any tab, any process): the page goes to the login page."""
    FORBIDDEN = 4403
    """Not allowed in the room, denied at the waiting room, or removed."""
    NOT_FOUND = 4404
    """No such room (or a socket path whose room id is no UUID)."""
    SILENT = 4408
    """A recess socket that sent nothing for RECESS_HEARTBEAT_SECONDS."""
    ENDED = 4409
    """The room ended."""
    SUPERSEDED = 4410
    """The same user opened more than ROOM_SOCKETS_PER_USER sockets in the room and this was the oldest:
    the page stays closed, or the tabs would push each other out forever."""
    RATE = 4429
    """Kept sending frames over the rate; the page reconnects after its usual back-off."""

    @property
    def reconnects(self) -> bool:
        """Whether the page reconnects after this code (it does after any code not in this table too)."""
        return self not in FINAL


FINAL = frozenset(
    {
        CloseCode.PROTOCOL,
        CloseCode.UNAUTHENTICATED,
        CloseCode.FORBIDDEN,
        CloseCode.NOT_FOUND,
        CloseCode.ENDED,
        CloseCode.SUPERSEDED,
    }
)
"""After these, reconnecting cannot help: the page shows why and stays closed."""


class PageEntry(TypedDict):
    code: int
    name: str
    reconnects: bool


def page_table() -> list[PageEntry]:
    """The table as the room page reads it (`<script type="application/json" id="close-codes">`)."""
    return [{"code": int(code), "name": code.name.lower(), "reconnects": code.reconnects} for code in CloseCode]
