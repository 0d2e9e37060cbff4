"""The chat: public and private messages, plain text, locks and deletion."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from classroom.models import ChatMessage, RoomLogEntry

pytestmark = pytest.mark.django_db(transaction=True)


async def test_public_message_reaches_everyone_as_plain_text(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    reply = await socket.request("chat.send", text="  <script>alert(1)</script>  ")
    assert reply["type"] == "ok"
    event = await teacher_socket.expect("chat.message")
    assert event["message"]["text"] == "<script>alert(1)</script>"
    assert event["message"]["from"] == {"id": str(student.pk), "name": "Léa Martin"}
    assert event["message"]["to"] is None
    stored = await sync_to_async(ChatMessage.objects.get)(pk=int(reply["id"]))
    assert stored.text == "<script>alert(1)</script>"


async def test_chat_history_is_in_state(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("chat.send", text="Ouvrez vos cahiers")
    socket = await enter(student, lesson)
    assert [m["text"] for m in socket.seen[-1]["chat"]] == ["Ouvrez vos cahiers"]


async def test_private_message_reaches_only_sender_and_recipient(enter, lesson, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    other = await enter(student2, lesson)
    await socket.request("chat.send", text="Je ne comprends pas", to=str(teacher.pk))
    received = await teacher_socket.expect("chat.message")
    assert received["message"]["to"] == str(teacher.pk)
    await socket.expect("chat.message")
    await other.quiet("chat.message")


async def test_private_history_is_hidden_from_others(enter, lesson, teacher, student, student2):
    socket = await enter(student, lesson)
    await enter(teacher, lesson)
    await socket.request("chat.send", text="privé", to=str(teacher.pk))
    other = await enter(student2, lesson)
    assert other.seen[-1]["chat"] == []


async def test_student_cannot_write_privately_to_a_student(enter, lesson, student, student2):
    socket = await enter(student, lesson)
    await enter(student2, lesson)
    reply = await socket.request("chat.send", text="psst", to=str(student2.pk))
    assert reply["code"] == "forbidden"


async def test_student_cannot_chat_when_chat_is_locked(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("room.update", chat_locked=True)
    reply = await socket.request("chat.send", text="hello")
    assert reply["code"] == "locked"


async def test_teacher_may_chat_when_chat_is_locked(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("room.update", chat_locked=True)
    assert (await teacher_socket.request("chat.send", text="Silence"))["type"] == "ok"


async def test_student_cannot_chat_when_students_may_not(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    await teacher_socket.request("room.update", students_can={"chat": False})
    reply = await socket.request("chat.send", text="hello")
    assert reply["code"] == "forbidden"


async def test_message_to_someone_absent_is_not_found(enter, lesson, student, other_teacher):
    socket = await enter(student, lesson)
    reply = await socket.request("chat.send", text="hello", to=str(other_teacher.pk))
    assert reply["code"] == "not_found"


@pytest.mark.parametrize("text", ["", "    ", "x" * 1001])
async def test_chat_text_out_of_range_is_invalid(enter, lesson, student, text):
    socket = await enter(student, lesson)
    reply = await socket.request("chat.send", text=text)
    assert reply["code"] == "invalid"
    assert await sync_to_async(ChatMessage.objects.count)() == 0


async def test_chat_text_of_1000_characters_is_accepted(enter, lesson, student):
    socket = await enter(student, lesson)
    assert (await socket.request("chat.send", text="é" * 1000))["type"] == "ok"


async def test_moderator_deletes_a_message_and_it_is_logged(enter, lesson, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    socket = await enter(student, lesson)
    sent = await socket.request("chat.send", text="gros mot")
    reply = await teacher_socket.request("chat.delete", id=sent["id"])
    assert reply["type"] == "ok"
    await socket.expect("chat.deleted", id=sent["id"])
    entry = await sync_to_async(RoomLogEntry.objects.get)(kind="chat_deleted")
    assert entry.data["text"] == "gros mot"
    again = await enter(student, lesson)
    assert again.seen[-1]["chat"] == []


async def test_student_cannot_delete_a_message(enter, lesson, student):
    socket = await enter(student, lesson)
    sent = await socket.request("chat.send", text="mine")
    reply = await socket.request("chat.delete", id=sent["id"])
    assert reply["code"] == "forbidden"


async def test_deleting_an_unknown_message_is_not_found(enter, lesson, teacher):
    teacher_socket = await enter(teacher, lesson)
    assert (await teacher_socket.request("chat.delete", id="999"))["code"] == "not_found"
