"""PostgreSQL stops for 30 s during a lesson: sockets stay open, refusals are said, pages retry by themselves."""

from __future__ import annotations

import time

from tests.production.stack import Stack

from .clients import Person
from .parts import postgres_of, start_postgres_again, stop_postgres

OUTAGE_S = 30.0
TEACHER, STUDENT = "marie.curie", "lea.martin"


def is_ok(reply: dict[str, object]) -> bool:
    return reply.get("type") == "ok"


def test_a_lesson_lives_through_30_s_without_postgresql(stack: Stack) -> None:
    teacher, student, english = Person(stack), Person(stack), Person(stack, language="en")
    teacher.login(TEACHER)
    student.login(STUDENT)
    english.login("zoe.bernard")
    room = teacher.start_lesson("6a")
    teacher_socket, student_socket = teacher.socket(room), student.socket(room)
    teacher_socket.wait_for(lambda m: m["type"] == "state")
    student_socket.wait_for(lambda m: m["type"] == "state")
    assert is_ok(student_socket.call({"type": "chat.send", "text": "avant"}))

    postgres = postgres_of(stack)
    stop_postgres(postgres)
    stopped = time.monotonic()

    # A message that cannot be stored is answered, never silence; the socket stays open.
    refused = student_socket.call({"type": "chat.send", "text": "pendant"})
    assert refused["type"] == "error" and refused["code"] == "unavailable", refused
    print(f"\nchat.send while PostgreSQL is down answered {refused['code']!r}: {refused['message']}")
    # More failures than a socket is allowed for its own faults (5): still open.
    for _ in range(8):
        reply = teacher_socket.call({"type": "room.update", "chat_locked": False})
        assert reply["type"] == "error" and reply["code"] == "unavailable", reply

    # Pages: a styled 503 in the person's language that reloads itself.
    status, headers, page = student.get("/classes/6a/")
    assert status == 503, (status, page[:300])
    assert headers.get("Retry-After") == "5"
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "Brièvement indisponible" in page and 'lang="fr"' in page, page[:600]
    status, _, page = english.get("/")
    assert status == 503 and "Briefly unavailable" in page and 'lang="en"' in page, page[:600]

    # Every socket stays open for the whole outage.
    while time.monotonic() - stopped < OUTAGE_S:
        assert is_ok(teacher_socket.call({"type": "ping"})), "the teacher's socket closed"
        assert is_ok(student_socket.call({"type": "ping"})), "the student's socket closed"
        time.sleep(2)  # the point: the sockets answer all through the outage, checked every 2 s

    start_postgres_again(postgres)
    back = time.monotonic()
    print(f"PostgreSQL down for {back - stopped:.1f} s")

    # Recovery by itself: the same sockets store messages again, the same pages answer 200.
    deadline = back + 30
    while not is_ok(teacher_socket.call({"type": "room.update", "chat_locked": False})):
        assert time.monotonic() < deadline, "the teacher's socket never stored anything again"
        time.sleep(0.2)
    socket_back = time.monotonic() - back
    while student.get("/classes/6a/")[0] != 200:
        assert time.monotonic() < deadline, "the class page never came back"
        time.sleep(0.2)
    page_back = time.monotonic() - back
    print(
        f"after PostgreSQL came back: socket messages stored after {socket_back:.1f} s, pages 200 after {page_back:.1f} s"
    )

    sent = student_socket.call({"type": "chat.send", "text": "après"})
    assert is_ok(sent), sent
    received = teacher_socket.wait_for(lambda m: m["type"] == "chat.message" and m["message"]["text"] == "après")
    assert received["message"]["text"] == "après"
    status, _, _ = english.get("/")
    assert status == 200
