"""A person without a browser: logs in over HTTPS through nginx, opens room sockets with its cookie.

Used where Chromium would be too slow or heavy for signalling checks; the sockets are real
WebSocket clients (`websockets`) through nginx's TLS, as a page's would be.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from http.cookies import SimpleCookie
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.production.stack import ADDRESS, DOMAIN, Stack

PASSWORD = "secret"


class Person:
    """One browser's cookies and requests, pinned to the stack's nginx."""

    def __init__(self, stack: Stack, *, language: str = "fr") -> None:
        self.stack = stack
        self.cookies: dict[str, str] = {}
        self.language = language

    def _connection(self) -> http.client.HTTPSConnection:
        context = self.stack.ssl_context()
        stack = self.stack

        class Pinned(http.client.HTTPSConnection):
            def connect(self) -> None:
                sock = socket.create_connection((ADDRESS, stack.https_port), self.timeout)
                self.sock = context.wrap_socket(sock, server_hostname=DOMAIN)

        return Pinned(DOMAIN, stack.https_port, timeout=10)

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        headers = {
            "Host": DOMAIN,
            "Accept-Language": self.language,
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "Referer": self.stack.origin + path,
        }
        body = None
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie(header)
                for name, morsel in cookie.items():
                    self.cookies[name] = morsel.value
            return response.status, dict(response.headers.items()), text
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path)

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """GET the page for its CSRF token, then POST the form."""
        status, _, page = self.get(path)
        assert status == 200, f"GET {path}: {status}"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, f"no CSRF token on {path}"
        return self.request("POST", path, {"csrfmiddlewaretoken": token.group(1), **fields})

    def login(self, username: str) -> None:
        status, headers, _ = self.post_form("/accounts/login/", {"username": username, "password": PASSWORD})
        assert status == 302 and "sessionid" in self.cookies, f"login of {username}: {status} {headers}"

    def start_lesson(self, slug: str) -> str:
        """Start (or rejoin) the class's lesson; return the room id."""
        status, _, page = self.get(f"/classes/{slug}/")
        assert status == 200
        action = re.search(r'<form method="post" action="([^"]+)" data-action="start-lesson"', page)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert action and token
        status, headers, _ = self.request("POST", action.group(1), {"csrfmiddlewaretoken": token.group(1)})
        assert status == 302, status
        found = re.search(r"/rooms/([0-9a-f-]{36})/", headers["Location"])
        assert found, headers["Location"]
        return found.group(1)

    def socket(self, room_id: str, *, port: int | None = None) -> RoomSocket:
        """A room socket through nginx, or straight to one web process's port."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        path = f"/ws/rooms/{room_id}/"
        if port is None:
            sock = socket.create_connection((ADDRESS, self.stack.https_port), timeout=10)
            ws = connect(
                f"wss://{DOMAIN}{path}",
                sock=sock,
                ssl=self.stack.ssl_context(),
                server_hostname=DOMAIN,
                origin=self.stack.origin,  # type: ignore[arg-type]
                additional_headers=headers,
                open_timeout=10,
                legacy=True,  # a plain connection; the test closes it
            )
        else:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            ws = connect(
                f"ws://{DOMAIN}{path}",
                sock=sock,
                origin=self.stack.origin,  # type: ignore[arg-type]
                additional_headers={**headers, "X-Forwarded-Proto": "https"},
                open_timeout=10,
                legacy=True,  # a plain connection; the test closes it
            )
        return RoomSocket(ws)


class RoomSocket:
    """One room socket: send with a ref and wait for its answer; wait for an event type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ref = 0
        self.seen: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> int:
        self.ref += 1
        self.ws.send(json.dumps({**message, "ref": self.ref}))
        return self.ref

    def next(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        self.seen.append(message)
        return message

    def wait_for(self, match: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first message (from now) for which match(message) is true."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"nothing matched within {timeout} s; last: {self.seen[-5:]}")
            message = self.next(left)
            if match(message):
                return message

    def call(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send with a ref; return its `ok` or `error`."""
        ref = self.send(message)
        return self.wait_for(lambda m: m.get("type") in ("ok", "error") and m.get("ref") == ref, timeout)

    def close(self) -> None:
        self.ws.close()
