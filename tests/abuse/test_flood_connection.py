"""The per-connection frame limit in daphne (config/daphne_seam.py), on a real daphne process.

A flooder here is a raw TCP client that does the WebSocket handshake with a real session cookie,
then writes masked `ping` frames with blocking `sendall` and never reads, as a console loop does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.livesite import HOST, LESSON_SETUP, LiveSite, Server

FRAME = json.dumps({"type": "ping", "ref": 1}).encode()


@pytest.fixture(scope="module")
def lesson(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    site = LiveSite(
        tmp_path_factory.mktemp("flood-connection"),
        LOG_LEVEL="INFO",
        WEBSOCKET_THROTTLED_SECONDS_BEFORE_ABORT="2",
        # the application's own 4429 close out of the way: whatever ends the flooder is the seam's
        ROOM_FRAMES_DROPPED_BEFORE_CLOSE="1000000",
    )
    data = site.shell(LESSON_SETUP)
    try:
        yield site.start(), data
    finally:
        site.stop()


def masked(payload: bytes) -> bytes:
    """One client text frame (FIN, opcode 1), masked as a client must."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


def open_raw(server: Server, room: str, cookie: str) -> socket.socket:
    sock = socket.create_connection((HOST, server.port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/rooms/{room}/ HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{HOST}:{server.port}\r\nCookie: sessionid={cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def flood(sock: socket.socket, result: dict[str, Any]) -> None:
    """Send frames until the server ends the connection; never read."""
    chunk = masked(FRAME) * 200
    sent = 0
    try:
        while sent < 2_000_000:  # ~80 MB: far beyond what the kernel buffers take
            sock.sendall(chunk)
            sent += 200
    except OSError as error:
        result["error"] = error
    result["frames"] = sent
    try:
        sock.settimeout(5)
        result["after"] = sock.recv(1 << 20)
    except OSError as error:
        result["after_error"] = error


async def ping(socket_: Any, ref: int) -> None:
    await socket_.send(json.dumps({"type": "ping", "ref": ref}))
    while True:
        event = json.loads(await asyncio.wait_for(socket_.recv(), 30))
        if event["type"] == "ok" and event.get("ref") == ref:
            return


async def test_a_flooder_is_aborted_while_another_users_pings_are_answered(lesson) -> None:  # type: ignore[no-untyped-def]
    server, data = lesson
    result: dict[str, Any] = {}
    flooder = threading.Thread(target=flood, args=(open_raw(server, data["room"], data["student"]), result))
    async with server.socket(data["room"], data["teacher"]) as teacher:
        flooder.start()
        answered = 0
        while flooder.is_alive() and answered < 2000:
            answered += 1
            await ping(teacher, answered)
            await asyncio.sleep(0.1)  # under the application's own per-user rate
        await asyncio.to_thread(flooder.join, 60)
        assert not flooder.is_alive()
        # the teacher's socket is still served after the flood
        await ping(teacher, 0)
    # ended by a TCP reset, not a close frame the flooder would have had to read
    assert isinstance(result.get("error"), ConnectionResetError | BrokenPipeError), result
    assert result["frames"] < 2_000_000
    assert "after" not in result or result["after"] == b"" or not result["after"].startswith(b"\x88")
    assert answered >= 2
    log = server.log.read_text()
    assert "not read until under it" in log
    assert "aborted: over" in log


async def test_a_page_at_its_usual_rate_never_meets_the_connection_limit(lesson) -> None:  # type: ignore[no-untyped-def]
    server, data = lesson
    before = server.log.read_text().count("not read until under it")
    async with server.socket(data["room"], data["teacher"]) as teacher:
        # a burst as a page sends on joining, then a steady rate within the application's limits
        for ref in range(1, 31):
            await teacher.send(json.dumps({"type": "ping", "ref": ref}))
        for ref in range(31, 91):
            await ping(teacher, ref)
            await asyncio.sleep(0.1)  # the point: a steady rate under the application's own per-user rate
        assert teacher.close_code is None
    assert server.log.read_text().count("not read until under it") == before
