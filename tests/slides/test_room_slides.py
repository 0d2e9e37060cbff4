"""Slides in the room, through the real ASGI application: the presenter turns, everyone follows."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from classroom.models import Participant, SchoolClass
from slides.models import Deck
from tests.conftest import login

from .conftest import JSON, upload
from .pdfs import deck_pdf, encrypted_pdf

pytestmark = pytest.mark.django_db(transaction=True)


async def test_presenter_opens_a_deck_and_everyone_gets_page_one(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    reply = await teacher_socket.request("slides.open", deck=ready_deck.pk)
    assert reply == {"type": "ok", "ref": reply["ref"], "slides": {"deck": str(ready_deck.pk), "page": 1, "pages": 3}}
    for socket in (teacher_socket, student_socket):
        await socket.expect("slides.page", deck=str(ready_deck.pk), page=1)


async def test_turning_a_page_reaches_every_socket(enter, lesson, ready_deck, teacher, student, student2):
    teacher_socket = await enter(teacher, lesson)
    sockets = [await enter(student, lesson), await enter(student2, lesson)]
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    assert (await teacher_socket.request("slides.goto", page=3))["type"] == "ok"
    for socket in sockets:
        event = await socket.expect("slides.page", page=3)
        assert event == {"type": "slides.page", "deck": str(ready_deck.pk), "page": 3, "pages": 3, "annotations": []}


async def test_a_late_joiner_lands_on_the_current_page(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    await teacher_socket.request("slides.goto", page=2)
    late = await enter(student, lesson)
    state = late.seen[-1]
    assert state["slides"] == {"deck": str(ready_deck.pk), "page": 2, "pages": 3, "annotations": []}
    assert state["decks"] == [
        {"id": str(ready_deck.pk), "title": "lecture", "pages": 3, "status": "ready", "progress": 3, "error": None}
    ]


async def test_a_student_may_not_turn_pages(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    assert (await student_socket.request("slides.goto", page=2))["code"] == "forbidden"
    assert (await student_socket.request("slides.open", deck=str(ready_deck.pk)))["code"] == "forbidden"
    late = await enter(student, lesson)
    assert late.seen[-1]["slides"]["page"] == 1


async def test_a_student_made_presenter_may_turn_pages(enter, lesson, ready_deck, teacher, student):
    teacher_socket = await enter(teacher, lesson)
    student_socket = await enter(student, lesson)
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    assert (await teacher_socket.request("presenter.set", id=str(student.pk), presenter=True))["type"] == "ok"
    assert (await student_socket.request("slides.goto", page=2))["type"] == "ok"
    await teacher_socket.expect("slides.page", page=2)


async def test_page_out_of_the_deck_is_invalid(enter, lesson, ready_deck, teacher):
    socket = await enter(teacher, lesson)
    await socket.request("slides.open", deck=str(ready_deck.pk))
    assert (await socket.request("slides.goto", page=4))["code"] == "invalid"
    assert (await socket.request("slides.goto", page=0))["code"] == "invalid"
    assert (await socket.request("slides.goto", page="2"))["code"] == "invalid"


async def test_turning_without_an_open_deck_is_a_conflict(enter, lesson, teacher):
    socket = await enter(teacher, lesson)
    assert (await socket.request("slides.goto", page=1))["code"] == "conflict"


async def test_unknown_deck_or_another_class_deck_is_not_found(enter, lesson, teacher):
    other_class = await sync_to_async(SchoolClass.objects.get)(slug="5b")
    other = await sync_to_async(Deck.objects.create)(
        school_class=other_class, title="5B", original_name="x.pdf", source_kind="pdf", status="ready", pages=1
    )
    socket = await enter(teacher, lesson)
    assert (await socket.request("slides.open", deck=str(other.pk)))["code"] == "not_found"
    assert (await socket.request("slides.open", deck="999999"))["code"] == "not_found"
    assert (await socket.request("slides.open", deck="abc"))["code"] == "not_found"


async def test_a_deck_still_rendering_cannot_be_opened(enter, lesson, teacher, class_6a):
    deck = await sync_to_async(Deck.objects.create)(
        school_class=class_6a, title="En cours", original_name="c.pdf", source_kind="pdf"
    )
    socket = await enter(teacher, lesson)
    assert (await socket.request("slides.open", deck=str(deck.pk)))["code"] == "conflict"


async def test_an_upload_during_the_lesson_sends_decks_until_ready(enter, lesson, teacher, student):
    socket = await enter(student, lesson)

    def upload_now() -> int:
        response = upload(login(teacher), "6a", deck_pdf(2), "Fractions.pdf", **JSON)
        return int(response.json()["deck"]["id"])

    deck_id = await sync_to_async(upload_now)()
    added = await socket.expect("decks")
    assert added["decks"][0]["id"] == str(deck_id) and added["decks"][0]["status"] == "rendering"
    ready = await socket.expect("decks", timeout=10)
    while ready["decks"][0]["status"] != "ready":
        ready = await socket.expect("decks", timeout=10)
    assert ready["decks"][0] == {
        "id": str(deck_id),
        "title": "Fractions",
        "pages": 2,
        "status": "ready",
        "progress": 2,
        "error": None,
    }


async def test_a_deck_that_fails_is_announced_failed(enter, lesson, teacher, student, class_6a, settings):
    from slides.actions import do_render

    deck = await sync_to_async(Deck.objects.create)(
        school_class=class_6a, title="Protégé", original_name="p.pdf", source_kind="pdf"
    )

    def store_and_render() -> None:
        deck.directory.mkdir(parents=True)
        deck.source_path.write_bytes(encrypted_pdf())
        do_render(deck.pk)

    socket = await enter(student, lesson)
    await sync_to_async(store_and_render)()
    failed = await socket.expect("decks")
    assert failed["decks"][0]["status"] == "failed" and failed["decks"][0]["error"] == "encrypted"


async def test_a_guest_admitted_into_the_lesson_follows_the_slides(
    enter, lesson, ready_deck, teacher, other_class_student
):
    teacher_socket = await enter(teacher, lesson)
    guest = await enter(other_class_student, lesson, until="waiting")
    await teacher_socket.request("waiting.admit", id=str(other_class_student.pk))
    await guest.expect("state")
    await teacher_socket.request("slides.open", deck=str(ready_deck.pk))
    await guest.expect("slides.page", page=1)
    admitted = await sync_to_async(Participant.objects.get)(user=other_class_student)
    assert admitted.status == "admitted"
