"""Room sockets for the /metrics tests."""

from tests.room.conftest import enter, open_socket  # noqa: F401  (fixtures)
