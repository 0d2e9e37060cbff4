"""Django's PostgreSQL backend with a health check that costs no round trip.

With `CONN_HEALTH_CHECKS` Django runs `SELECT 1` before the first query of every request and of
every database turn of a room socket (channels resets the check around each): one more round
trip to PostgreSQL for each chat message, hand and join, about a millisecond on an idle server
and several on a busy one (docs/protocol.md, "Performance"). A kept connection that PostgreSQL
ended (a restart, `pg_terminate_backend`, an idle timeout) has the server's goodbye or its close
waiting to be read, and a healthy idle one has nothing: looking at the socket, without waiting,
tells them apart. After an error the check asks the server as before.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        if self.errors_occurred:
            return bool(super().is_usable())
        return not _has_input(self.connection.fileno())


def _has_input(descriptor: int) -> bool:
    """Whether the server wrote to (or closed) an idle connection."""
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
