"""The close codes are one table (classroom/closecodes.py): daphne can send each, the page reads the same."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from daphne.ws_protocol import WebSocketProtocol
from django.urls import reverse

from accounts.models import User
from classroom.closecodes import CloseCode, page_table
from classroom.models import Room
from tests.conftest import login

pytestmark = pytest.mark.django_db(transaction=True)

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def daphne_sends(message: dict[str, Any]) -> int | None:
    """The close code daphne's protocol puts on the wire for an application's `websocket.close`."""
    protocol = WebSocketProtocol()
    protocol.state = WebSocketProtocol.STATE_OPEN
    sent: list[int | None] = []
    protocol.sendCloseFrame = lambda code=None, reasonUtf8=None, isReply=False: sent.append(code)  # type: ignore[method-assign]
    protocol.handle_reply(message)
    return sent[0]


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: code.name)
def test_every_close_code_is_one_daphne_can_send(code: CloseCode) -> None:
    assert daphne_sends({"type": "websocket.close", "code": int(code)}) == code


def test_daphne_refuses_the_websocket_restart_code() -> None:
    """Why RESTART is 4012: autobahn, under daphne, will not send 1012 (the check above would catch it)."""
    with pytest.raises(Exception, match="invalid close code 1012"):
        daphne_sends({"type": "websocket.close", "code": 1012})


@pytest.mark.embedded_only(
    "reads the ASGI message the consumer sends; the production shape's sockets go through daphne"
)
@pytest.mark.parametrize("path", ["closed room", "no uuid"])
async def test_consumer_closes_with_a_plain_int_that_daphne_sends(open_socket, student, path):
    """autobahn refuses a close code whose type is not exactly int, so an IntEnum member must not reach it."""
    socket = await open_socket(student, "not-a-uuid" if path == "no uuid" else "00000000-0000-4000-8000-000000000000")
    message = await socket.communicator.receive_output(3.0)
    assert message["type"] == "websocket.close"
    assert type(message["code"]) is int
    assert daphne_sends(message) == CloseCode.NOT_FOUND


def test_room_page_carries_the_table(lesson: Room, student: User) -> None:
    html = login(student).get(reverse("room", args=[lesson.pk])).content.decode()
    found = re.search(r'<script id="close-codes" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None, "the room page has no close-codes table"
    table = json.loads(found.group(1))
    assert table == page_table()
    assert {entry["code"] for entry in table if not entry["reconnects"]} == {4400, 4401, 4403, 4404, 4409, 4410}
    assert {entry["code"] for entry in table if entry["reconnects"]} == {1000, 4012, 4408, 4429}


def test_protocol_doc_names_every_close_code() -> None:
    text = PROTOCOL_DOC.read_text()
    missing = [code for code in CloseCode if f"`{int(code)}`" not in text]
    assert not missing, f"docs/protocol.md does not name {missing}"
