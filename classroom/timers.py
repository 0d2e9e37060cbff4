"""Room timers of this process: the leave-open deadline of each room, and a periodic sweep.

They only make rooms end on time while this process holds sockets; the database stays the
truth (a socket opening checks the deadline too, and so does the `end_expired_rooms` task).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from .actions.groups import do_close_due_groups
from .actions.lifecycle import do_end_expired_rooms, do_end_if_expired
from .actions.recess import do_check_recess, do_check_recesses

logger = logging.getLogger(__name__)


def sweep_seconds() -> float:
    return float(getattr(settings, "ROOM_SWEEP_SECONDS", 30))


class RoomTimers:
    """Deadline tasks per room and one sweeper, alive while this process has room sockets.

    Recess checks (safe mode, then the end without supervisor) outlive the sockets: the last
    socket of the process may be the supervisor's that just went.
    """

    def __init__(self) -> None:
        self.sockets = 0
        self.deadlines: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self.sweeper: asyncio.Task[None] | None = None
        self.recess_checks: dict[str, asyncio.Task[None]] = {}

    def socket_opened(self) -> None:
        self.sockets += 1
        loop = asyncio.get_running_loop()
        if self.sweeper is None or self.sweeper.done() or self.sweeper.get_loop() is not loop:
            self.sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def socket_closed(self) -> None:
        self.sockets = max(0, self.sockets - 1)
        if self.sockets == 0:
            for _at, task in self.deadlines.values():
                task.cancel()
            self.deadlines.clear()
            if self.sweeper is not None:
                self.sweeper.cancel()
                self.sweeper = None

    def notice(self, room_id: str, closes_at: str | None) -> None:
        """Follow a room's deadline as seen in a `state` or `room.updated` event."""
        current = self.deadlines.get(room_id)
        if current is not None and current[0] == closes_at and not current[1].done():
            return
        if current is not None:
            current[1].cancel()
            del self.deadlines[room_id]
        if closes_at is not None:
            task = asyncio.get_running_loop().create_task(self._end_at(room_id, datetime.fromisoformat(closes_at)))
            self.deadlines[room_id] = (closes_at, task)

    def recess_check(self, room_id: str, at: datetime) -> None:
        """Check an unsupervised recess at this time, and again at each deadline it returns."""
        current = self.recess_checks.pop(room_id, None)
        if current is not None:
            current.cancel()
        task = asyncio.get_running_loop().create_task(self._check_recess_at(room_id, at))
        self.recess_checks[room_id] = task
        task.add_done_callback(lambda done: self.recess_checks.get(room_id) is done and self.recess_checks.pop(room_id))

    async def _check_recess_at(self, room_id: str, at: datetime | None) -> None:
        while at is not None:
            await asyncio.sleep(max(0.0, (at - timezone.now()).total_seconds()))
            at = await database_sync_to_async(do_check_recess)(room_id)

    async def _end_at(self, room_id: str, closes_at: datetime) -> None:
        await asyncio.sleep(max(0.0, (closes_at - timezone.now()).total_seconds()))
        await database_sync_to_async(do_end_if_expired)(room_id)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(sweep_seconds())
            try:
                await database_sync_to_async(do_end_expired_rooms)()
                await database_sync_to_async(do_check_recesses)()
                await database_sync_to_async(do_close_due_groups)()
            except Exception:
                logger.exception("room sweep failed")


timers = RoomTimers()
