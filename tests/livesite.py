"""The app as production runs it: real daphne processes on 127.0.0.1, over real HTTP and WebSockets.

Each site has its own SQLite file, migrated and synced from the test directory (as
tests/browser/conftest.py does); `start()` runs the web unit's command on a free port.

    site = LiveSite(tmp_path, REDIS_URL=redis_server.url)
    server = site.start()
    status, headers, body = server.request("GET", "/healthz")
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parents[1]
TEST_LDIF = ROOT / "tests" / "directory" / "test_school.ldif"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0

# Cookies of logged-in users and a live lesson of 6A, printed as JSON by `manage.py shell`.
LESSON_SETUP = """
import json
from django.test import Client
from accounts.models import User
from classroom.actions.lessons import do_start_lesson
from classroom.models import SchoolClass

def cookie(uid):
    client = Client()
    client.force_login(User.objects.get(username=uid), backend="accounts.backends.LDIFBackend")
    return client.cookies["sessionid"].value

room = do_start_lesson(SchoolClass.objects.get(name="6A"), User.objects.get(username="marie.curie"))
print(json.dumps({
    "room": str(room.pk),
    "teacher": cookie("marie.curie"),
    "student": cookie("lea.martin"),
    "student_id": str(User.objects.get(username="lea.martin").pk),
}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """One daphne process of a site."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None
    ) -> tuple[int, http.client.HTTPMessage, str]:
        """One HTTP request, redirects not followed: (status, headers, body)."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read().decode()
        finally:
            connection.close()

    def socket(self, room: str, cookie: str) -> Any:
        """A room WebSocket as a browser on this server opens it (websockets' `connect`)."""
        return websockets.connect(
            f"ws://{HOST}:{self.port}/ws/rooms/{room}/",
            origin=f"http://{HOST}:{self.port}",
            additional_headers={"Cookie": f"sessionid={cookie}"},
            # no keepalive of our own: the socket stays as idle as a quiet student's
            ping_interval=None,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            # daphne waits for its own shutdown timeouts; the test is over, so no need.
            self.process.kill()
            self.process.wait()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"daphne did not listen within {START_TIMEOUT} s:\n{self.log.read_text()[-4000:]}")


class LiveSite:
    """A migrated, synced database and the environment its processes share."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
        for name in ("REDIS_URL", "LDAP_URI", "DATABASE_URL"):
            self.env.pop(name, None)
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
            DIRECTORY_LDIF=str(TEST_LDIF),
            DJANGO_ALLOWED_HOSTS=f"{HOST},localhost",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="live-site-tests-only",
            MEDIA_ROOT=str(workdir / "uploads"),
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        self.env.update(env)
        self.servers: list[Server] = []
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("sync_directory")

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def shell(self, code: str) -> Any:
        """Run Python in `manage.py shell` and return the JSON its last line prints."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def start(self, *options: str) -> Server:
        """Start the web unit's command, `daphne -b 127.0.0.1 -p PORT config.asgi:application`."""
        port = free_port()
        log = self.workdir / f"daphne-{port}.log"
        daphne = str(Path(sys.executable).parent / "daphne")
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [daphne, *options, "-b", HOST, "-p", str(port), "config.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(process, port, log)
        self.servers.append(server)
        server._wait_until_up()
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
