"""Frames that do not fit the protocol, and rate limits."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from classroom import consumers
from classroom.models import ChatMessage

pytestmark = pytest.mark.django_db(transaction=True)


async def test_ping_with_ref_is_answered_ok(enter, lesson, student):
    socket = await enter(student, lesson)
    await socket.send({"type": "ping", "ref": "abc"})
    assert await socket.expect("ok") == {"type": "ok", "ref": "abc"}


async def test_unknown_type_is_invalid_and_socket_stays_open(enter, lesson, student):
    socket = await enter(student, lesson)
    reply = await socket.request("teleport")
    assert reply["code"] == "invalid" and reply["message"]
    assert (await socket.request("ping"))["type"] == "ok"


async def test_extra_field_is_invalid(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("ping", extra=1))["code"] == "invalid"


async def test_non_json_frame_is_invalid(enter, lesson, student):
    socket = await enter(student, lesson)
    await socket.communicator.send_to(text_data="{not json")
    reply = await socket.expect("error")
    assert reply["code"] == "invalid" and reply["ref"] is None


async def test_frame_over_64_kib_is_closed_with_4400(enter, lesson, student):
    socket = await enter(student, lesson)
    await socket.communicator.send_to(text_data=json.dumps({"type": "chat.send", "text": "x" * 70_000}))
    assert await socket.closed() == 4400


async def test_client_that_keeps_sending_invalid_frames_is_closed_with_4400(enter, lesson, student):
    socket = await enter(student, lesson)
    for _ in range(30):
        await socket.communicator.send_to(text_data="[]")
    assert await socket.closed() == 4400


async def test_chat_flood_is_rate_limited(enter, lesson, student):
    socket = await enter(student, lesson)
    codes = [(await socket.request("chat.send", text=f"spam {n}"))["type"] for n in range(8)]
    assert codes[:5] == ["ok"] * 5
    reply = await socket.request("chat.send", text="one more")
    assert reply["code"] == "rate_limited"
    assert await sync_to_async(ChatMessage.objects.count)() == 5


@pytest.mark.embedded_only("the database turns are counted in this process; the servers run their own")
async def test_a_message_over_its_limit_never_takes_the_database_thread(enter, lesson, student, monkeypatch):
    socket = await enter(student, lesson)
    turns = []

    def counted(function):
        turns.append(function.__name__)
        return database_sync_to_async(function)

    monkeypatch.setattr(consumers, "database_sync_to_async", counted)
    replies = [await socket.request("chat.send", text=f"spam {n}") for n in range(8)]
    assert [reply.get("code", reply["type"]) for reply in replies] == ["ok"] * 5 + ["rate_limited"] * 3
    assert turns == ["_run"] * 5  # the three over the limit were refused on the loop


async def test_rate_limit_is_per_socket(enter, lesson, student, student2):
    flooder = await enter(student, lesson)
    other = await enter(student2, lesson)
    for n in range(8):
        await flooder.request("chat.send", text=f"spam {n}")
    assert (await other.request("chat.send", text="hello"))["type"] == "ok"
