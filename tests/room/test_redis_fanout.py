"""Fan-out across processes: two real daphne servers sharing Redis and one database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.livesite import LESSON_SETUP, free_port

ROOT = Path(__file__).resolve().parents[2]
LDIF = ROOT / "tests" / "directory" / "test_school.ldif"

pytestmark = pytest.mark.redis


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("daphne did not listen in time")


@pytest.fixture
def two_servers(redis_server, tmp_path) -> Iterator[tuple[list[int], dict[str, str]]]:
    """Migrate a fresh SQLite file, load the test school, start two daphne processes on it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "REDIS_URL": redis_server.url,
        "DIRECTORY_LDIF": str(LDIF),
        "LDAP_URI": "",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
    subprocess.run([*manage, "sync_directory"], env=env, cwd=ROOT, check=True, capture_output=True)
    setup = subprocess.run(
        [*manage, "shell", "-c", LESSON_SETUP], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    data = json.loads(setup.stdout.strip().splitlines()[-1])
    ports = [free_port(), free_port()]
    daphne = str(Path(sys.executable).parent / "daphne")
    procs = [
        subprocess.Popen(
            [daphne, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_for_port(port, proc)
        yield ports, data
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                # daphne waits for its own shutdown timeouts; the test is over, so no need.
                proc.kill()
                proc.wait()


def _connect(port: int, room: str, cookie: str) -> websockets.asyncio.client.connect:
    return websockets.connect(
        f"ws://127.0.0.1:{port}/ws/rooms/{room}/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={cookie}"},
    )


async def _expect(ws, kind: str, timeout: float = 5.0) -> dict:
    import asyncio

    async def read() -> dict:
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event

    return await asyncio.wait_for(read(), timeout)


async def test_events_cross_between_two_server_processes(two_servers):
    (port_a, port_b), data = two_servers
    async with (
        _connect(port_a, data["room"], data["teacher"]) as teacher,
        _connect(port_b, data["room"], data["student"]) as student,
    ):
        await _expect(teacher, "state")
        await _expect(student, "state")
        joined = await _expect(teacher, "participant.joined")
        assert joined["participant"]["id"] == data["student_id"]
        await student.send(json.dumps({"type": "chat.send", "text": "bonjour d'un autre processus", "ref": 1}))
        message = await _expect(teacher, "chat.message")
        assert message["message"]["text"] == "bonjour d'un autre processus"
        await teacher.send(json.dumps({"type": "participant.remove", "id": data["student_id"], "ref": 2}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _expect(student, "never")
        assert closed.value.rcvd.code == 4403


async def test_live_poll_results_reach_a_moderator_on_another_process(two_servers):
    (port_a, port_b), data = two_servers
    async with (
        _connect(port_a, data["room"], data["teacher"]) as teacher,
        _connect(port_b, data["room"], data["student"]) as student,
    ):
        await _expect(teacher, "state")
        await _expect(student, "state")
        await teacher.send(json.dumps({"type": "poll.create", "question": "Q", "options": ["a", "b"], "ref": 1}))
        opened = await _expect(student, "poll.opened")
        await student.send(json.dumps({"type": "poll.vote", "poll": opened["poll"]["id"], "choices": [1], "ref": 2}))
        results = await _expect(teacher, "poll.results")
        assert results["poll"]["counts"] == [0, 1]
        assert results["poll"]["votes"][0]["id"] == data["student_id"]
