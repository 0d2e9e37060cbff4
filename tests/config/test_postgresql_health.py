"""The PostgreSQL backend's health check: no round trip for a healthy connection, a reconnect
for one the server ended (config/postgresql)."""

from __future__ import annotations

import select
import time

import pytest
from django.db import close_old_connections, connections

from accounts.models import User
from tests.conftest import DATABASE

pytestmark = [
    pytest.mark.skipif(DATABASE != "postgres", reason="the PostgreSQL backend (CV_TEST_DATABASE=postgres)"),
    pytest.mark.django_db(transaction=True),
]


def _terminate(pid: int) -> None:
    """End a backend from another connection, as a restart or `pg_terminate_backend` would."""
    connection = connections["default"]
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def _wait_readable(descriptor: int) -> None:
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    assert poller.poll(5000), "the server never closed the connection"


def test_it_checks_a_healthy_kept_connection_without_a_query(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = connections["default"]
    assert connection.vendor == "postgresql" and type(connection).__module__ == "config.postgresql.base"
    User.objects.count()
    raw = connection.connection

    def round_trip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(raw, "cursor", round_trip)
    assert connection.is_usable()


def test_a_connection_the_server_ended_is_replaced_before_the_next_turn() -> None:
    connection = connections["default"]
    User.objects.count()
    old = connection.connection
    _terminate(old.info.backend_pid)
    _wait_readable(old.fileno())
    assert not connection.is_usable()
    # a turn's end and start (channels' database_sync_to_async, a request): the check runs once
    close_old_connections()
    started = time.monotonic()
    assert User.objects.count() >= 0  # failed with "terminating connection" without the check
    assert connection.connection is not old
    assert time.monotonic() - started < 5
