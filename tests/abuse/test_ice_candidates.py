# ruff: noqa: F811 - fixtures imported from tests/room and tests/slides, where their conftest defines them
"""A page that names ICE candidates it should not, through the real room socket and forwarder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.room.conftest import enter, lesson, open_socket  # noqa: F401 - the room's socket fixtures

pytestmark = pytest.mark.django_db(transaction=True)


async def _joined(enter: Any, lesson: Any, user: Any) -> Any:
    socket = await enter(user, lesson)
    await socket.send({"type": "media.join", "ref": 1})
    await socket.expect("media.offer")
    return socket


def _candidate(address: str, port: int = 50000) -> dict[str, Any]:
    return {
        "type": "media.candidate",
        "pc": "subscribe",
        "candidate": f"candidate:1 1 udp 2122260223 {address} {port} typ host",
        "sdp_mline_index": 0,
    }


async def _still_open(socket: Any) -> None:
    await socket.send({"type": "ping", "ref": 99})
    assert (await socket.expect("ok"))["ref"] == 99


async def test_a_candidate_naming_loopback_is_invalid_and_the_socket_lives(enter, lesson, student):  # type: ignore[no-untyped-def]
    socket = await _joined(enter, lesson, student)
    await socket.send(_candidate("127.0.0.1") | {"ref": 2})
    error = await socket.expect("error")
    assert (error["code"], error["ref"]) == ("invalid", 2)
    await _still_open(socket)


@pytest.mark.parametrize(
    "candidate", ["candidate:1 1 udp", "[" * 900, "candidate:1 1 udp 1 203.0.113.7 0 typ host", "candidate:x"]
)
async def test_a_malformed_candidate_is_invalid_and_the_socket_lives(enter, lesson, student, candidate):  # type: ignore[no-untyped-def]
    socket = await _joined(enter, lesson, student)
    await socket.send(_candidate("203.0.113.7") | {"candidate": candidate, "ref": 3})
    assert (await socket.expect("error"))["code"] == "invalid"
    await _still_open(socket)


async def test_the_thirty_first_candidate_is_invalid(enter, lesson, student):  # type: ignore[no-untyped-def]
    socket = await _joined(enter, lesson, student)
    for port in range(50000, 50030):
        await socket.send(_candidate("203.0.113.7", port) | {"ref": port})
        assert (await socket.expect("ok"))["ref"] == port
    await socket.send(_candidate("203.0.113.7", 50030) | {"ref": 4})
    error = await socket.expect("error")
    assert (error["code"], error["ref"]) == ("invalid", 4)
    await _still_open(socket)


async def test_an_mdns_candidate_is_taken_silently(enter, lesson, student):  # type: ignore[no-untyped-def]
    socket = await _joined(enter, lesson, student)
    await socket.send(_candidate("3f1c2e4a-1b2c-4d5e-8f90-a1b2c3d4e5f6.local") | {"ref": 5})
    assert (await socket.expect("ok"))["ref"] == 5
